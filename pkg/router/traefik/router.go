package traefik

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// Router manages the TraefikServices of Canaries of provider traefik.
type Router struct {
	reader client.Reader
	client client.Client
}

var _ router.Router = (*Router)(nil)

// New returns a Router that reads through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return &Router{reader: reader, client: c}
}

// key is the TraefikService of c: named after the apex Service, in c's namespace.
func key(c *siskinv1.Canary) client.ObjectKey {
	apex, _, _ := router.ServiceNames(c)
	return client.ObjectKey{Namespace: c.Namespace, Name: apex}
}

// get reads the TraefikService at key; found is false when it does not exist. A cluster that
// does not serve TraefikServices is an error that the controller reports as the router's API
// missing.
func (r *Router) get(ctx context.Context, k client.ObjectKey) (u *unstructured.Unstructured, found bool, err error) {
	u = newObject()
	if err := r.reader.Get(ctx, k, u); apierrors.IsNotFound(err) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("get %s %s: %w", kindTraefikService, k, err)
	}
	return u, true, nil
}

// Observe reports the route as converged when the TraefikService exists, is Siskin's and equals
// what Apply generates for the weights and mirror read from it. A TraefikService of that name
// that Siskin does not own is an error wrapping router.ErrNotOwned.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	var route canary.Route
	k := key(c)
	live, found, err := r.get(ctx, k)
	if err != nil {
		return route, err
	}
	if !found {
		route.Message = fmt.Sprintf("%s %s not found", kindTraefikService, k)
		return route, nil
	}
	adopt, err := target.Ownership(kindTraefikService, live, c)
	if err != nil {
		return route, err
	}
	route = readRoute(c, live)
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindTraefikService, k, c.Name)
		return route, nil
	}
	want, err := desiredObject(c, live, router.Carried(route))
	if err != nil || !same(live, want) {
		route.Message = fmt.Sprintf("%s %s differs from the TraefikService Siskin applies for weights %s",
			kindTraefikService, k, router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, 0))
		return route, nil
	}
	route.Converged = true
	return route, nil
}

// desiredObject is live made c's and set to the route d.
func desiredObject(c *siskinv1.Canary, live *unstructured.Unstructured, d canary.DesiredRoute) (*unstructured.Unstructured, error) {
	spec, err := desiredSpec(c, d)
	if err != nil {
		return nil, err
	}
	obj := live.DeepCopy()
	if err := target.Claim(kindTraefikService, obj, c); err != nil {
		return nil, err
	}
	obj.Object["spec"] = spec
	return obj, nil
}

// same reports whether the TraefikService live equals want in what the router manages: the
// spec, the owner references and the annotations.
func same(live, want *unstructured.Unstructured) bool {
	return equality.Semantic.DeepEqual(live.Object["spec"], want.Object["spec"]) && target.SameMeta(live, want)
}

// Apply converges the TraefikService to the route d with one write, or none when it already
// matches.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	k := key(c)
	spec, err := desiredSpec(c, d)
	if err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindTraefikService, k, err)
	}
	live, found, err := r.get(ctx, k)
	if err != nil {
		return err
	}
	if !found {
		obj := newObject()
		m := target.NewMeta(c, k)
		obj.SetName(m.Name)
		obj.SetNamespace(m.Namespace)
		obj.SetAnnotations(m.Annotations)
		obj.SetOwnerReferences(m.OwnerReferences)
		obj.Object["spec"] = spec
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", kindTraefikService, k, err)
		}
		return nil
	}
	want, err := desiredObject(c, live, d)
	if err != nil {
		return err
	}
	if same(live, want) {
		return nil
	}
	if err := r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindTraefikService, k, err)
	}
	return nil
}

// Ensure creates or updates the TraefikService and keeps the weights it carries, or routes all
// traffic to the primary when there is none yet. It implements the EnsureRoute action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	return router.Ensure(ctx, r, c)
}

// Finalize hands the TraefikService back, when it is Siskin's: weighted with the apex Service
// alone, which selects the target's pods by then, and without the Canary's owner reference, so
// that the garbage collector keeps it and the user's IngressRoute, which names it, keeps
// routing. The siskin.dev/canary annotation stays, so a Canary of the same name adopts it again.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	k := key(c)
	live, found, err := r.get(ctx, k)
	if meta.IsNoMatchError(err) {
		return nil // TraefikServices are not served: none was made
	}
	if err != nil || !found {
		return err
	}
	if _, err := target.Ownership(kindTraefikService, live, c); err != nil {
		return nil // not Siskin's: nothing to hand back
	}
	want := live.DeepCopy()
	want.Object["spec"] = handBackSpec(c)
	target.Release(want, c)
	if same(live, want) {
		return nil
	}
	if err := r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("hand back %s %s: %w", kindTraefikService, k, err)
	}
	return nil
}
