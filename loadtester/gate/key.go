// Package gate keeps manual gate state, open or closed, per canary: in memory for a single
// replica, or in a ConfigMap so that it survives restarts and is shared by replicas. A gate
// that was never opened is closed.
package gate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Kind tells promotion gates from rollback gates; each canary has one of each.
type Kind string

// The gate kinds.
const (
	Promotion Kind = "gate"
	Rollback  Kind = "rollback"
)

// ErrInvalidKey is wrapped by Key.Validate errors.
var ErrInvalidKey = errors.New("invalid gate key")

// Key names one gate of one canary.
type Key struct {
	Kind      Kind
	Namespace string
	Name      string
}

// Validate checks that the namespace and name are Kubernetes names, so that the key is a valid
// ConfigMap data key.
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
	return nil
}

// String returns "<kind>.<namespace>.<name>", which is unambiguous because a namespace holds no
// dot. A key longer than a ConfigMap allows ends in a hash of the name instead.
func (k Key) String() string {
	s := string(k.Kind) + "." + k.Namespace + "." + k.Name
	if len(s) <= validation.DNS1123SubdomainMaxLength {
		return s
	}
	sum := sha256.Sum256([]byte(k.Name))
	return string(k.Kind) + "." + k.Namespace + ".sha256-" + hex.EncodeToString(sum[:])
}
