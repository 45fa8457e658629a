package gate

import (
	"context"
	"sync"
)

// Memory keeps gates in process memory: lost on restart, not shared between replicas.
type Memory struct {
	mu   sync.Mutex
	open map[Key]bool
}

// NewMemory returns an empty in-memory store in which every gate is closed.
func NewMemory() *Memory { return &Memory{open: map[Key]bool{}} }

// IsOpen reports whether the gate is open.
func (m *Memory) IsOpen(_ context.Context, key Key) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.open[key], nil
}

// SetOpen opens or closes the gate.
func (m *Memory) SetOpen(_ context.Context, key Key, open bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if open {
		m.open[key] = true
	} else {
		delete(m.open, key)
	}
	return nil
}
