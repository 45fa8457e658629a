package routertest

import (
	"context"
	"errors"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Contract is what every router with objects of its own does, whatever the objects: the
// behaviour the controller relies on, checked alike for each router.
type Contract struct {
	// New returns the router over a fresh fake API server holding objs, and its write count.
	New func(t *testing.T, objs ...client.Object) (router.Router, client.Client, *Writes)
	// Canary returns the router's test Canary.
	Canary func(mods ...func(*siskinv1.Canary)) *siskinv1.Canary
	// Kind names the router's object in messages (Ingress, HTTPProxy); Name is the name of the
	// object that carries the weights, which the user's or another tool's object may hold.
	Kind, Name string
	// Foreign is an object of that name that no Canary manages.
	Foreign func() client.Object
	// Orphan is an object of that name annotated for the Canary (siskin.dev/canary), without a
	// controller: handed back by Finalize, or written for adoption. It carries canary weight
	// OrphanWeight.
	Orphan       func() client.Object
	OrphanWeight int32
	// OrphanMessage is what Observe says of the orphan before it is taken over; by default
	// that it "is not controlled by Canary podinfo yet".
	OrphanMessage string
	// WritesPerChange is how many writes a changed route takes, CreateWrites how many its
	// first Apply makes, and AdoptWrites how many taking the orphan over makes.
	WritesPerChange, CreateWrites, AdoptWrites int
	// Settle, when set, does what the data plane does between a write and the next look.
	Settle func(t *testing.T, cl client.Client)
	// EditWeight, when set, gives the canary weight canary to the applied object by hand (the
	// primary the rest), and EditOther changes by hand something else that Siskin writes in
	// it: the contract then checks that Observe reports live weights and is not converged on
	// anything else until Apply writes the object again.
	EditWeight func(t *testing.T, cl client.Client, canary int32)
	EditOther  func(t *testing.T, cl client.Client)
}

// New adapts a router's own test constructor, which returns its concrete type, to
// Contract.New.
func New[R router.Router](newRouter func(*testing.T, ...client.Object) (R, client.Client, *Writes)) func(*testing.T, ...client.Object) (router.Router, client.Client, *Writes) {
	return func(t *testing.T, objs ...client.Object) (router.Router, client.Client, *Writes) {
		return newRouter(t, objs...)
	}
}

// Run checks the contract.
func (k Contract) Run(t *testing.T) {
	t.Run("without objects the route is not converged", k.missing)
	t.Run("Apply writes only what changed", k.writesOnlyChanges)
	t.Run("an object no Canary manages is never written", k.foreign)
	t.Run("an object annotated for the Canary is adopted with its weights", k.orphan)
	if k.EditWeight != nil && k.EditOther != nil {
		t.Run("Observe reads hand edits, and Apply undoes what is not a weight", k.handEdits)
	}
}

func (k Contract) missing(t *testing.T) {
	r, _, _ := k.New(t)
	route, err := r.Observe(context.Background(), k.Canary())
	if err != nil {
		t.Fatal(err)
	}
	if route.Converged || !strings.Contains(route.Message, "not found") {
		t.Fatalf("Observe without objects = %+v, want not converged, saying what is not found", route)
	}
}

func (k Contract) writesOnlyChanges(t *testing.T) {
	ctx := context.Background()
	r, cl, w := k.New(t)
	c := k.Canary()
	steps := []canary.DesiredRoute{{PrimaryWeight: 90, CanaryWeight: 10}, {PrimaryWeight: 90, CanaryWeight: 10}, {PrimaryWeight: 80, CanaryWeight: 20}}
	for i, d := range steps {
		if err := r.Apply(ctx, c, d); err != nil {
			t.Fatalf("Apply %d: %v", i, err)
		}
		if i == 0 && w.N != k.CreateWrites {
			t.Fatalf("%d writes to create the route, want %d", w.N, k.CreateWrites)
		}
		if i == 1 && w.N != k.CreateWrites {
			t.Fatalf("the same route applied again wrote %d times", w.N-k.CreateWrites)
		}
	}
	if got := w.N - k.CreateWrites; got != k.WritesPerChange {
		t.Fatalf("%d writes for a weight change, want %d", got, k.WritesPerChange)
	}
	before := w.N
	if err := router.Ensure(ctx, r, c); err != nil || w.N != before {
		t.Fatalf("Ensure of a converged route: %v, %d writes, want none", err, w.N-before)
	}
	if k.Settle != nil {
		k.Settle(t, cl)
	}
	route, err := r.Observe(ctx, c)
	if err != nil || !route.Converged || route.PrimaryWeight != 80 || route.CanaryWeight != 20 {
		t.Fatalf("Observe = %+v, %v; want 80/20, converged", route, err)
	}
}

func (k Contract) foreign(t *testing.T) {
	ctx := context.Background()
	foreign := k.Foreign()
	r, cl, w := k.New(t, foreign)
	c := k.Canary()
	if _, err := r.Observe(ctx, c); !errors.Is(err, router.ErrNotOwned) {
		t.Fatalf("Observe: %v, want ErrNotOwned", err)
	}
	err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10})
	if !errors.Is(err, router.ErrNotOwned) || !strings.Contains(err.Error(), k.Kind+" "+Namespace+"/"+k.Name) {
		t.Fatalf("Apply: %v, want ErrNotOwned naming %s %s/%s", err, k.Kind, Namespace, k.Name)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatalf("Finalize: %v", err)
	}
	if w.N != 0 {
		t.Fatalf("%d writes to a %s no Canary manages", w.N, k.Kind)
	}
	after := k.Foreign()
	if err := cl.Get(ctx, client.ObjectKeyFromObject(foreign), after); err != nil {
		t.Fatal(err)
	}
	if after.GetResourceVersion() != foreign.GetResourceVersion() && foreign.GetResourceVersion() != "" {
		t.Fatalf("the foreign %s changed", k.Kind)
	}
	if len(after.GetOwnerReferences()) != 0 || after.GetAnnotations()[target.AnnotationCanary] != "" {
		t.Fatalf("the foreign %s was claimed: %v %v", k.Kind, after.GetOwnerReferences(), after.GetAnnotations())
	}
}

func (k Contract) orphan(t *testing.T) {
	ctx := context.Background()
	r, cl, w := k.New(t, k.Orphan())
	c := k.Canary()
	message := k.OrphanMessage
	if message == "" {
		message = "is not controlled by Canary podinfo yet"
	}
	route, err := r.Observe(ctx, c)
	if err != nil || route.Converged || route.CanaryWeight != k.OrphanWeight || !strings.Contains(route.Message, message) {
		t.Fatalf("Observe = %+v, %v; want its weight %d, not converged: %q", route, err, k.OrphanWeight, message)
	}
	if err := router.Ensure(ctx, r, c); err != nil {
		t.Fatal(err)
	}
	got := k.Orphan()
	if err := cl.Get(ctx, client.ObjectKeyFromObject(got), got); err != nil {
		t.Fatal(err)
	}
	if ref := metav1.GetControllerOf(got); ref == nil || ref.UID != c.UID {
		t.Fatalf("controller after Ensure = %v, want Canary %s", ref, c.UID)
	}
	if w.N != k.AdoptWrites {
		t.Fatalf("%d writes to adopt, want %d", w.N, k.AdoptWrites)
	}
	if k.Settle != nil {
		k.Settle(t, cl)
	}
	route, err = r.Observe(ctx, c)
	if err != nil || !route.Converged || route.CanaryWeight != k.OrphanWeight {
		t.Fatalf("Observe after Ensure = %+v, %v; want the adopted weight %d, converged", route, err, k.OrphanWeight)
	}
}

func (k Contract) handEdits(t *testing.T) {
	ctx := context.Background()
	r, cl, _ := k.New(t)
	c := k.Canary()
	if err := r.Apply(ctx, c, canary.DesiredRoute{PrimaryWeight: 90, CanaryWeight: 10}); err != nil {
		t.Fatal(err)
	}
	observe := func() canary.Route {
		t.Helper()
		if k.Settle != nil {
			k.Settle(t, cl)
		}
		route, err := r.Observe(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return route
	}
	k.EditWeight(t, cl, 30)
	if route := observe(); !route.Converged || route.PrimaryWeight != 70 || route.CanaryWeight != 30 {
		t.Fatalf("Observe after a weight edit = %+v, want 70/30, converged", route)
	}
	k.EditOther(t, cl)
	route := observe()
	if route.Converged || route.PrimaryWeight != 70 || route.CanaryWeight != 30 || !strings.Contains(route.Message, k.Kind) ||
		!strings.Contains(route.Message, "differs from the") || !strings.Contains(route.Message, "for weights 70/30") {
		t.Fatalf("Observe after another edit = %+v, want 70/30, not converged: the %s differs from ... for weights 70/30", route, k.Kind)
	}
	if err := r.Apply(ctx, c, router.Carried(route)); err != nil {
		t.Fatal(err)
	}
	if route := observe(); !route.Converged || route.PrimaryWeight != 70 || route.CanaryWeight != 30 {
		t.Fatalf("Observe after Apply of the carried weights = %+v, want 70/30, converged", route)
	}
}
