package routertest

import (
	"context"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
)

// Refusal is a spec or a route a router cannot write: Apply must fail with Want in its message
// and write nothing.
type Refusal struct {
	Name    string
	Canary  func(*siskinv1.Canary)
	Desired canary.DesiredRoute
	Want    string
}

// RunRefusals applies each refusal's route to a Canary of newCanary changed by its Canary
// function, through a fresh router of newRouter.
func RunRefusals(t *testing.T, newRouter func(*testing.T) (router.Router, *Writes), newCanary func(...func(*siskinv1.Canary)) *siskinv1.Canary, refusals []Refusal) {
	t.Helper()
	for _, tc := range refusals {
		t.Run(tc.Name, func(t *testing.T) {
			c := newCanary()
			if tc.Canary != nil {
				tc.Canary(c)
			}
			r, w := newRouter(t)
			err := r.Apply(context.Background(), c, tc.Desired)
			if err == nil || !strings.Contains(err.Error(), tc.Want) {
				t.Fatalf("Apply: %v, want an error containing %q", err, tc.Want)
			}
			if w.N != 0 {
				t.Fatalf("%d writes, want none", w.N)
			}
		})
	}
}
