// Package gate keeps manual gate state per canary and revision: in memory for a single replica,
// or in a ConfigMap so that it survives restarts and is shared by replicas.
//
// A gate remembers one revision per canary: the one that last reached it (a check) or the one
// it was opened for. An approval therefore belongs to one revision and never carries over to
// the next release: the first check of a new revision replaces the entry, dropping the old
// approval. Entries older than the store's time to live are treated as absent and removed on
// the next write, so canaries that were deleted leave nothing behind. A gate that was never
// opened for the revision being checked is closed.
package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Kind tells promotion gates from rollback gates; each canary has one of each.
type Kind string

// The gate kinds.
const (
	Promotion Kind = "gate"
	Rollback  Kind = "rollback"
)

// DefaultTTL is how long an entry lives without being written when a store is given none.
const DefaultTTL = 24 * time.Hour

// maxRevisionLen bounds a revision so that an entry stays small.
const maxRevisionLen = 128

// Errors that callers branch on.
var (
	// ErrInvalidKey is wrapped by Key.Validate errors.
	ErrInvalidKey = errors.New("invalid gate key")
	// ErrNoRevision is returned when a gate is opened without a revision and no revision of
	// the canary has reached it yet.
	ErrNoRevision = errors.New("no revision waiting at the gate")
)

// Key names one gate of one canary. Revision is the canary's revision fingerprint (the
// webhook payload's checksum); it is required to check a gate and optional to open or close
// one, where empty means the revision that last reached the gate.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
	Revision  string
}

// Validate checks that the namespace and name are Kubernetes names, so that the key is a valid
// ConfigMap data key, and that the revision is short and printable.
func (k Key) Validate() error {
	if k.Kind != Promotion && k.Kind != Rollback {
		return fmt.Errorf("%w: kind %q", ErrInvalidKey, k.Kind)
	}
	if errs := validation.IsDNS1123Label(k.Namespace); len(errs) > 0 {
		return fmt.Errorf("%w: namespace %q: %s", ErrInvalidKey, k.Namespace, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(k.Name); len(errs) > 0 {
		return fmt.Errorf("%w: name %q: %s", ErrInvalidKey, k.Name, strings.Join(errs, "; "))
	}
	if len(k.Revision) > maxRevisionLen {
		return fmt.Errorf("%w: revision longer than %d characters", ErrInvalidKey, maxRevisionLen)
	}
	for _, r := range k.Revision {
		if r < 0x21 || r > 0x7e {
			return fmt.Errorf("%w: revision %q has a character that is not printable ASCII", ErrInvalidKey, k.Revision)
		}
	}
	return nil
}

// String returns "<kind>.<namespace>.<name>", the entry of the canary's gate, which is
// unambiguous because a namespace holds no dot. A key longer than a ConfigMap allows ends in
// a hash of the name instead. The revision is part of the entry's value, not of its name.
func (k Key) String() string {
	s := string(k.Kind) + "." + k.Namespace + "." + k.Name
	if len(s) <= validation.DNS1123SubdomainMaxLength {
		return s
	}
	sum := sha256.Sum256([]byte(k.Name))
	return string(k.Kind) + "." + k.Namespace + ".sha256-" + hex.EncodeToString(sum[:])
}

// entry is the state of one canary's gate: the revision it is about, whether that revision is
// approved, and when the entry was last written.
type entry struct {
	Revision string    `json:"revision"`
	Open     bool      `json:"open"`
	Since    time.Time `json:"since"`
}

func (e entry) expired(now time.Time, ttl time.Duration) bool { return now.Sub(e.Since) > ttl }

// checked returns the entry after a check of key at now and whether it changed: a check of a
// revision other than the entry's starts a closed entry for it.
func checked(cur entry, ok bool, key Key, now time.Time, ttl time.Duration) (entry, bool) {
	if ok && cur.Revision == key.Revision && !cur.expired(now, ttl) {
		return cur, false
	}
	return entry{Revision: key.Revision, Since: now}, true
}

// nextOnSet returns the entry after opening or closing key at now and whether it changed, or
// ErrNoRevision. Closing drops whatever approval the canary has, of any revision, and
// changes nothing when there is none.
func nextOnSet(cur entry, ok bool, key Key, open bool, now time.Time, ttl time.Duration) (entry, bool, error) {
	if ok && cur.expired(now, ttl) {
		ok = false
	}
	if !open {
		if !ok || !cur.Open {
			return cur, false, nil
		}
		return entry{Revision: cur.Revision, Since: now}, true, nil
	}
	rev := key.Revision
	if rev == "" {
		if !ok || cur.Revision == "" {
			return entry{}, false, fmt.Errorf("%w: no revision of %s/%s has been checked; open it once the canary waits, or give its checksum",
				ErrNoRevision, key.Namespace, key.Name)
		}
		rev = cur.Revision
	}
	next := entry{Revision: rev, Open: true, Since: now}
	return next, !ok || cur != next, nil
}

func ttlOr(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return DefaultTTL
	}
	return ttl
}
