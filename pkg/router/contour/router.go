package contour

import (
	"context"
	"fmt"

	contourv1 "github.com/projectcontour/contour/apis/projectcontour/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// kindHTTPProxy is the kind of the routing object, as it appears in messages and errors.
const kindHTTPProxy = "HTTPProxy"

// Router manages the HTTPProxy of Canaries of provider contour.
type Router struct {
	reader client.Reader
	client client.Client
}

var _ router.Router = (*Router)(nil)

// New returns a Router that reads through reader (the informer cache) and writes through c.
func New(reader client.Reader, c client.Client) *Router {
	return &Router{reader: reader, client: c}
}

// key is the HTTPProxy of c: named after the apex Service, in c's namespace.
func key(c *siskinv1.Canary) client.ObjectKey {
	apex, _, _ := router.ServiceNames(c)
	return client.ObjectKey{Namespace: c.Namespace, Name: apex}
}

// Observe reports the route as converged when the HTTPProxy exists, is Siskin's, equals what
// Apply generates from the current spec for the weights read from it, and Contour has not
// found it invalid (or orphaned: no root HTTPProxy includes it) at its current generation.
// An HTTPProxy of the same name that Siskin does not own is an error wrapping
// router.ErrNotOwned.
func (r *Router) Observe(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	var route canary.Route
	k := key(c)
	live := &contourv1.HTTPProxy{}
	if err := r.reader.Get(ctx, k, live); apierrors.IsNotFound(err) {
		route.Message = fmt.Sprintf("%s %s not found", kindHTTPProxy, k)
		return route, nil
	} else if err != nil {
		return route, fmt.Errorf("get %s %s: %w", kindHTTPProxy, k, err)
	}
	adopt, err := target.Ownership(kindHTTPProxy, live, c)
	if err != nil {
		return route, err
	}
	readWeights(c, &live.Spec, &route)
	if adopt {
		route.Message = fmt.Sprintf("%s %s is not controlled by Canary %s yet", kindHTTPProxy, k, c.Name)
		return route, nil
	}
	want, err := proxySpec(c, router.Carried(route))
	if err != nil {
		return route, err
	}
	if !equality.Semantic.DeepEqual(&live.Spec, want) {
		route.Message = fmt.Sprintf("%s %s differs from the HTTPProxy Siskin applies for weights %s", kindHTTPProxy, k,
			router.FormatWeights(route.PrimaryWeight, route.CanaryWeight, route.BaselineWeight))
		return route, nil
	}
	if msg := statusMessage(live); msg != "" {
		route.Message = msg
		return route, nil
	}
	route.Converged = true
	return route, nil
}

// statusMessage says why Contour does not serve the HTTPProxy's current generation, "" when
// it does or has not said: its Valid condition for that generation is False (invalid, or
// orphaned while no root HTTPProxy includes it).
func statusMessage(p *contourv1.HTTPProxy) string {
	for _, cond := range p.Status.Conditions {
		if cond.Type != contourv1.ValidConditionType || cond.ObservedGeneration != p.Generation || cond.Status != metav1.ConditionFalse {
			continue
		}
		msg := cond.Message
		if p.Status.Description != "" {
			msg = p.Status.Description
		}
		return fmt.Sprintf("%s %s/%s is %s: %s", kindHTTPProxy, p.Namespace, p.Name, cond.Reason, msg)
	}
	return ""
}

// Apply converges the HTTPProxy to the route d with one write, or none when it already
// matches, so a Canary at rest costs no API calls.
func (r *Router) Apply(ctx context.Context, c *siskinv1.Canary, d canary.DesiredRoute) error {
	k := key(c)
	spec, err := proxySpec(c, d)
	if err != nil {
		return err
	}
	live := &contourv1.HTTPProxy{}
	err = r.reader.Get(ctx, k, live)
	if apierrors.IsNotFound(err) {
		obj := &contourv1.HTTPProxy{ObjectMeta: target.NewMeta(c, k), Spec: *spec}
		if err := r.client.Create(ctx, obj); err != nil {
			return fmt.Errorf("set weights on %s %s: %w", kindHTTPProxy, k, err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("get %s %s: %w", kindHTTPProxy, k, err)
	}
	want := live.DeepCopy()
	if err := target.Claim(kindHTTPProxy, want, c); err != nil {
		return err
	}
	want.Spec = *spec
	if equality.Semantic.DeepEqual(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("set weights on %s %s: %w", kindHTTPProxy, k, err)
	}
	return nil
}

// Ensure creates or updates the HTTPProxy and keeps the weights it carries, or routes all
// traffic to the primary when there is none yet. It implements the EnsureRouting action.
func (r *Router) Ensure(ctx context.Context, c *siskinv1.Canary) error {
	return router.Ensure(ctx, r, c)
}

// Finalize hands the HTTPProxy over to the user before the Canary goes away: it routes every
// request to the apex Service and drops the Canary's controller reference, so the garbage
// collector keeps it. Deleting it instead would break the root HTTPProxy that includes it. The
// siskin.dev/canary annotation stays, so a Canary of the same name adopts it again. Call it
// after the apex Service selects the target's pods.
func (r *Router) Finalize(ctx context.Context, c *siskinv1.Canary) error {
	k := key(c)
	live := &contourv1.HTTPProxy{}
	if err := r.reader.Get(ctx, k, live); apierrors.IsNotFound(err) {
		return nil
	} else if err != nil {
		return fmt.Errorf("get %s %s: %w", kindHTTPProxy, k, err)
	}
	if _, err := target.Ownership(kindHTTPProxy, live, c); err != nil {
		return nil // not Siskin's: nothing to hand back
	}
	spec, err := handBack(c)
	if err != nil {
		return err
	}
	want := live.DeepCopy()
	want.Spec = *spec
	target.Release(want, c)
	if equality.Semantic.DeepEqual(&live.Spec, &want.Spec) && target.SameMeta(live, want) {
		return nil
	}
	if err := r.patch(ctx, live, want); err != nil {
		return fmt.Errorf("hand back %s %s: %w", kindHTTPProxy, k, err)
	}
	return nil
}

// patch writes want over live with a merge patch that fails if live is stale.
func (r *Router) patch(ctx context.Context, live, want client.Object) error {
	return r.client.Patch(ctx, want, client.MergeFromWithOptions(live, client.MergeFromWithOptimisticLock{}))
}
