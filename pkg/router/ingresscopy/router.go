package ingresscopy

import (
	"context"
	"fmt"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// kindIngress is the kind of the routing object, as it appears in messages and errors.
const kindIngress = "Ingress"

// CanarySuffix names the canary Ingress after the user's.
const CanarySuffix = "-canary"

// Desired is what a router writes on the canary Ingress: its spec and its annotations
// (besides siskin.dev/canary, which ownership manages).
type Desired struct {
	Spec        networkingv1.IngressSpec
	Annotations map[string]string
}

// Controller is what the router knows of one ingress controller: how the copy of the user's
// Ingress routes a desired route, and how to read the weights back from a live copy.
type Controller struct {
	// Copy returns the canary Ingress of c for the route d, made from the user's Ingress.
	Copy func(c *siskinv1.Canary, user *networkingv1.Ingress, d canary.DesiredRoute) (Desired, error)
	// Weights reads the weights a live canary Ingress carries from its annotations.
	Weights func(c *siskinv1.Canary, annotations map[string]string) (primary, canaryWeight int32)
}

// Router manages the canary Ingresses of the Canaries of one ingress controller's provider.
type Router struct {
	reader     client.Reader
	client     client.Client
	controller Controller
	// errSpec marks a spec the provider cannot route.
	errSpec error
}

var _ router.Router = (*Router)(nil)

// New returns a Router for the ingress controller ic that reads through reader (the informer
// cache) and writes through c; errSpec is wrapped by the errors of specs it cannot route.
func New(reader client.Reader, c client.Client, ic Controller, errSpec error) *Router {
	return &Router{reader: reader, client: c, controller: ic, errSpec: errSpec}
}

// keys returns the user's Ingress of c (spec.ingressRef) and its canary copy.
func (r *Router) keys(c *siskinv1.Canary) (user, canaryKey client.ObjectKey, err error) {
	if c.Spec.IngressRef == nil || c.Spec.IngressRef.Name == "" {
		return user, canaryKey, fmt.Errorf("%w: spec.ingressRef must name the Ingress to route", r.errSpec)
	}
	user = client.ObjectKey{Namespace: c.Namespace, Name: c.Spec.IngressRef.Name}
	return user, client.ObjectKey{Namespace: c.Namespace, Name: user.Name + CanarySuffix}, nil
}

// userIngress reads the Ingress of spec.ingressRef; found is false when it does not exist.
func (r *Router) userIngress(ctx context.Context, key client.ObjectKey) (ing *networkingv1.Ingress, found bool, err error) {
	ing = &networkingv1.Ingress{}
	if err := r.reader.Get(ctx, key, ing); apierrors.IsNotFound(err) {
		return nil, false, nil
	} else if err != nil {
		return nil, false, fmt.Errorf("get %s %s: %w", kindIngress, key, err)
	}
	return ing, true, nil
}

// Observe reports the route as converged when the canary Ingress exists, is Siskin's and equals
// what Apply generates from the user's Ingress and the current spec for the weights read from
// it. A canary Ingress that Siskin does not own is an error wrapping router.ErrNotOwned.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	var route canary.Route
	userKey, key, err := r.keys(c)
	if err != nil {
		return route, err
	}
	live := &networkingv1.Ingress{}
	if err := r.reader.Get(ctx, key, live); apierrors.IsNotFound(err) {
		route.Message = fmt.Sprintf("%s %s not found", kindIngress, key)
		return route, nil
	} else if err != nil {
		return route, fmt.Errorf("get %s %s: %w", kindIngress, key, err)
	}
	adopt, err := target.Ownership(kindIngress, live, c)
	if err != nil {
		return route, err
	}
	route.PrimaryWeight, route.CanaryWeight = r.controller.Weights(c, live.Annotations)
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindIngress, key, c.Name)
		return route, nil
	}
	user, found, err := r.userIngress(ctx, userKey)
	if err != nil {
		return route, err
	}
	if !found {
		route.Message = fmt.Sprintf("%s %s (spec.ingressRef) not found", kindIngress, userKey)
		return route, nil
	}
	want, err := r.desiredObject(c, user, live, router.Carried(route))
	if err != nil {
		return route, err
	}
	if !same(live, want) {
		route.Message = fmt.Sprintf("%s %s differs from the canary Ingress Siskin applies for weights %s",
			kindIngress, key, router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, 0))
		return route, nil
	}
	route.Converged = true
	return route, nil
}

// desiredObject is live (the canary Ingress, nil when there is none) made c's and set to the
// copy of user for the route d.
func (r *Router) desiredObject(c *siskinv1.Canary, user, live *networkingv1.Ingress, d canary.DesiredRoute) (*networkingv1.Ingress, error) {
	want, err := r.controller.Copy(c, user, d)
	if err != nil {
		return nil, err
	}
	obj := live.DeepCopy()
	if err := target.Claim(kindIngress, obj, c); err != nil {
		return nil, err
	}
	// Siskin's own annotations (ownership, a take-over) stay; the rest follow the user's.
	for k, v := range obj.Annotations {
		if strings.HasPrefix(k, siskinv1.GroupVersion.Group+"/") {
			want.Annotations[k] = v
		}
	}
	obj.Spec = want.Spec
	obj.Annotations = want.Annotations
	return obj, nil
}

// same reports whether the canary Ingress live equals want in what the router manages.
func same(live, want *networkingv1.Ingress) bool {
	return equality.Semantic.DeepEqual(live.Spec, want.Spec) && target.SameMeta(live, want)
}

// Apply converges the canary Ingress to the route d with one write, or none when it already
// matches.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	userKey, key, err := r.keys(c)
	if err != nil {
		return err
	}
	user, found, err := r.userIngress(ctx, userKey)
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("set weights on %s %s: %s %s (spec.ingressRef) not found", kindIngress, key, kindIngress, userKey)
	}
	live := &networkingv1.Ingress{}
	err = r.reader.Get(ctx, key, live)
	if apierrors.IsNotFound(err) {
		want, err := r.controller.Copy(c, user, d)
		if err != nil {
			return err
		}
		obj := &networkingv1.Ingress{ObjectMeta: target.NewMeta(c, key), Spec: want.Spec}
		for k, v := range want.Annotations {
			obj.Annotations[k] = v
		}
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", kindIngress, key, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kindIngress, key, err)
	}
	want, err := r.desiredObject(c, user, live, d)
	if err != nil {
		return err
	}
	if same(live, want) {
		return nil
	}
	if err := r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindIngress, key, err)
	}
	return nil
}

// Ensure creates or updates the canary Ingress and keeps the weights it carries, or routes all
// traffic to the primary when there is none yet. It implements the EnsureRoute action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	return router.Ensure(ctx, r, c)
}

// Finalize deletes the canary Ingress, when it is Siskin's. It carries no host of its own: the user's Ingress, which Siskin never changed, keeps routing every request
// to the apex Service, which selects the target's pods by then.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	_, key, err := r.keys(c)
	if err != nil {
		return nil // nothing was made without an ingressRef
	}
	live := &networkingv1.Ingress{}
	if err := r.reader.Get(ctx, key, live); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kindIngress, key, err)
	}
	if _, err := target.Ownership(kindIngress, live, c); err != nil {
		return nil // not Siskin's: nothing to remove
	}
	if err := r.client.Delete(ctx, live, client.Preconditions{UID: &live.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("delete %s %s: %w", kindIngress, key, err)
	}
	return nil
}
