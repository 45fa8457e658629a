package gate

import (
	"context"
	"sync"
	"time"
)

// Memory keeps gates in process memory: lost on restart, not shared between replicas.
type Memory struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	ttl     time.Duration
	mu      sync.Mutex
	entries map[Key]entry // keyed without the revision
}

// NewMemory returns an empty in-memory store in which every gate is closed; entries not
// written for ttl (zero: DefaultTTL) are dropped.
func NewMemory(ttl time.Duration) *Memory {
	return &Memory{ttl: ttlOr(ttl), entries: map[Key]entry{}}
}

func (m *Memory) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

// Check reports whether the gate is open for key.Revision, and remembers that revision as the
// one waiting, which drops an approval of any other revision.
func (m *Memory) Check(_ context.Context, key Key) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	cur, ok := m.entries[canaryKey(key)]
	next, changed := checked(cur, ok, key, now, m.ttl)
	if changed {
		m.sweepLocked(now)
		m.entries[canaryKey(key)] = next
	}
	return next.Open, nil
}

// SetOpen opens or closes the gate for key.Revision, or for the revision waiting when it is
// empty, and returns the revision it changed.
func (m *Memory) SetOpen(_ context.Context, key Key, open bool) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	cur, ok := m.entries[canaryKey(key)]
	next, changed, err := nextOnSet(cur, ok, key, open, now, m.ttl)
	if err != nil || !changed {
		return next.Revision, err
	}
	m.sweepLocked(now)
	m.entries[canaryKey(key)] = next
	return next.Revision, nil
}

// Len returns the number of entries kept, expired ones included until the next write.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func (m *Memory) sweepLocked(now time.Time) {
	for k, e := range m.entries {
		if e.expired(now, m.ttl) {
			delete(m.entries, k)
		}
	}
}

func canaryKey(k Key) Key { k.Revision = ""; return k }
