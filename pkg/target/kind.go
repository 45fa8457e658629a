package target

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// The values of spec.targetRef.kind that Siskin rolls out.
const (
	KindDeployment = "Deployment"
	KindDaemonSet  = "DaemonSet"
	// KindStatefulSet is rolled out in place, by its partition (see Sharer).
	KindStatefulSet = "StatefulSet"
)

// ErrUnsupported is returned for an operation that does not apply to a target's kind (a
// baseline beside a DaemonSet), or for a kind that has no adapter.
var ErrUnsupported = errors.New("not supported for this kind of target")

// Adapter is what the controller does with a Canary's target, whatever its kind. Each method
// takes the Canary and finds the target, the primary and their configs from it. What only some
// kinds do is in the smaller interfaces below (Autoscaled, Baseliner, Adopter, Sharer): Kinds
// answers for a kind that lacks one.
type Adapter interface {
	// Observe reports the target and the primary as the planner sees them.
	Observe(ctx context.Context, c *siskinv1.Canary) (target, primary canary.Workload, err error)
	// Configs returns the checksums of the ConfigMaps and Secrets the target's pods read,
	// keyed "configmap/<name>" and "secret/<name>"; a missing required one is NotFound.
	Configs(ctx context.Context, c *siskinv1.Canary) (map[string]string, error)

	// EnsurePrimary creates the primary from the target when it does not exist.
	EnsurePrimary(ctx context.Context, c *siskinv1.Canary) error
	// ScaleUp gives the target its pods for an analysis.
	ScaleUp(ctx context.Context, c *siskinv1.Canary) error
	// ScaleDown takes the target's pods away at rest.
	ScaleDown(ctx context.Context, c *siskinv1.Canary) error
	// Promote copies the target's revision to the primary, if the target still holds the
	// revision that was analysed (else ErrRevisionChanged).
	Promote(ctx context.Context, c *siskinv1.Canary, revision string) error
	// Revert gives the target back its pods when the Canary is deleted, and reports whether
	// it is ready to take the traffic back.
	Revert(ctx context.Context, c *siskinv1.Canary) (bool, error)
}

// Autoscaled is an Adapter of a kind whose primary gets a copy of the target's autoscaler.
type Autoscaled interface {
	// SyncPrimaryHPA keeps the primary's autoscaler equal to the target's.
	SyncPrimaryHPA(ctx context.Context, c *siskinv1.Canary) error
}

// Baseliner is an Adapter of a kind that can run a baseline beside the canary, for an
// analysis compared with control baseline.
type Baseliner interface {
	EnsureBaseline(ctx context.Context, c *siskinv1.Canary) error
	ObserveBaseline(ctx context.Context, c *siskinv1.Canary) (canary.Workload, error)
	RemoveBaseline(ctx context.Context, c *siskinv1.Canary) error
}

// Adopter is an Adapter of a kind whose objects Flagger made and Siskin can take over (see
// Deployment.MarkAdoption).
type Adopter interface {
	MarkAdoption(c *siskinv1.Canary)
	AdoptPrimary(ctx context.Context, c *siskinv1.Canary) (Adoption, error)
}

// Targets is everything the controller asks of any Canary's target: Kinds, which hands each
// call to the adapter of the Canary's kind and answers for a kind without the method.
type Targets interface {
	Adapter
	Autoscaled
	Baseliner
	Adopter
	Sharer
}

// Sharer is an Adapter of a kind whose canary's share of the work is its share of the pods,
// with no router: a StatefulSet's updated pods, a worker Deployment's canary replicas beside
// its primary (spec.provider replicas). The replicas router is made of these three methods.
type Sharer interface {
	// ObserveShare reports the share as a route: CanaryWeight is the weight last applied
	// (PrimaryWeight 100 minus it), Converged is true when the pods carry it.
	ObserveShare(ctx context.Context, c *siskinv1.Canary) (canary.Route, error)
	// ApplyShare gives the canary the pods of desired.CanaryWeight. Weight 0 takes no pods
	// away: ScaleDown does, at the end of an analysis.
	ApplyShare(ctx context.Context, c *siskinv1.Canary, desired canary.DesiredRoute) error
	// Pods returns anchored regular expressions (RE2, as PromQL's =~ reads them) of the names
	// of the canary's pods and of the primary's pods now, for the metric templates'
	// {{ canaryPods }} and {{ primaryPods }}.
	Pods(ctx context.Context, c *siskinv1.Canary) (canaryPods, primaryPods string, err error)
}

// Configs returns the checksums of the configs the target Deployment reads (TrackedConfigs of
// its pod template).
func (d *Deployment) Configs(ctx context.Context, c *siskinv1.Canary) (map[string]string, error) {
	dep, err := d.getTarget(ctx, c)
	if err != nil {
		return nil, err
	}
	return d.TrackedConfigs(ctx, dep.Namespace, &dep.Spec.Template)
}

// Kinds holds the adapter of each target kind, by spec.targetRef.kind. It is itself an
// Adapter: every call goes to the adapter of the Canary's kind, and a kind without one is
// ErrUnsupported. An empty kind is a Deployment, as in Flagger.
type Kinds map[string]Adapter

// NewKinds returns the adapters of every kind Siskin rolls out, reading through reader (the
// informer cache) and writing through c. selectorLabels overrides DefaultSelectorLabels when
// not empty; adoptFlaggerIn are the namespaces of --adopt-flagger-namespaces.
func NewKinds(reader client.Reader, c client.Client, selectorLabels, adoptFlaggerIn []string) Kinds {
	deployments := NewDeployment(reader, c, selectorLabels)
	deployments.AdoptFlaggerIn(adoptFlaggerIn)
	daemonSets := NewDaemonSet(reader, c, selectorLabels)
	daemonSets.AdoptFlaggerIn(adoptFlaggerIn)
	return Kinds{KindDeployment: deployments, KindDaemonSet: daemonSets, KindStatefulSet: NewStatefulSet(reader, c)}
}

// For returns the adapter of a kind.
func (k Kinds) For(kind string) (Adapter, error) {
	if kind == "" {
		kind = KindDeployment
	}
	if a, ok := k[kind]; ok {
		return a, nil
	}
	return nil, fmt.Errorf("target kind %q: %w", kind, ErrUnsupported)
}

// Observe is the Observe of the Canary's kind.
func (k Kinds) Observe(ctx context.Context, c *siskinv1.Canary) (target, primary canary.Workload, err error) {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return target, primary, err
	}
	return a.Observe(ctx, c)
}

// Configs is the Configs of the Canary's kind.
func (k Kinds) Configs(ctx context.Context, c *siskinv1.Canary) (map[string]string, error) {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return nil, err
	}
	return a.Configs(ctx, c)
}

// EnsurePrimary is the EnsurePrimary of the Canary's kind.
func (k Kinds) EnsurePrimary(ctx context.Context, c *siskinv1.Canary) error {
	return k.do(c, func(a Adapter) error { return a.EnsurePrimary(ctx, c) })
}

// ScaleUp is the ScaleUp of the Canary's kind.
func (k Kinds) ScaleUp(ctx context.Context, c *siskinv1.Canary) error {
	return k.do(c, func(a Adapter) error { return a.ScaleUp(ctx, c) })
}

// ScaleDown is the ScaleDown of the Canary's kind.
func (k Kinds) ScaleDown(ctx context.Context, c *siskinv1.Canary) error {
	return k.do(c, func(a Adapter) error { return a.ScaleDown(ctx, c) })
}

// Promote is the Promote of the Canary's kind.
func (k Kinds) Promote(ctx context.Context, c *siskinv1.Canary, revision string) error {
	return k.do(c, func(a Adapter) error { return a.Promote(ctx, c, revision) })
}

// Revert is the Revert of the Canary's kind.
func (k Kinds) Revert(ctx context.Context, c *siskinv1.Canary) (bool, error) {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return false, err
	}
	return a.Revert(ctx, c)
}

// SyncPrimaryHPA is the SyncPrimaryHPA of the Canary's kind. A kind without autoscalers has
// nothing to keep in sync, and an autoscalerRef on it is ErrUnsupported (Validate refuses it
// first).
func (k Kinds) SyncPrimaryHPA(ctx context.Context, c *siskinv1.Canary) error {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return err
	}
	if as, ok := a.(Autoscaled); ok {
		return as.SyncPrimaryHPA(ctx, c)
	}
	if ref := c.Spec.AutoscalerRef; ref != nil {
		return fmt.Errorf("autoscalerRef %s with a %s target: %w", ref.Name, kindOf(c), ErrUnsupported)
	}
	return nil
}

// EnsureBaseline is the EnsureBaseline of the Canary's kind; ErrUnsupported for a kind that
// runs no baseline.
func (k Kinds) EnsureBaseline(ctx context.Context, c *siskinv1.Canary) error {
	b, err := k.baseliner(c)
	if err != nil {
		return err
	}
	return b.EnsureBaseline(ctx, c)
}

// ObserveBaseline is the ObserveBaseline of the Canary's kind; ErrUnsupported for a kind that
// runs no baseline.
func (k Kinds) ObserveBaseline(ctx context.Context, c *siskinv1.Canary) (canary.Workload, error) {
	b, err := k.baseliner(c)
	if err != nil {
		return canary.Workload{}, err
	}
	return b.ObserveBaseline(ctx, c)
}

// RemoveBaseline is the RemoveBaseline of the Canary's kind; a kind that runs no baseline has
// none to remove.
func (k Kinds) RemoveBaseline(ctx context.Context, c *siskinv1.Canary) error {
	b, err := k.baseliner(c)
	if errors.Is(err, ErrUnsupported) {
		return nil
	}
	if err != nil {
		return err
	}
	return b.RemoveBaseline(ctx, c)
}

func (k Kinds) baseliner(c *siskinv1.Canary) (Baseliner, error) {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return nil, err
	}
	b, ok := a.(Baseliner)
	if !ok {
		return nil, fmt.Errorf("baseline of %s %s: %w", strings.ToLower(kindOf(c)), targetKey(c), ErrUnsupported)
	}
	return b, nil
}

// MarkAdoption is the MarkAdoption of the Canary's kind; a kind Flagger has no objects of
// marks nothing.
func (k Kinds) MarkAdoption(c *siskinv1.Canary) {
	if a, err := k.For(c.Spec.TargetRef.Kind); err == nil {
		if ad, ok := a.(Adopter); ok {
			ad.MarkAdoption(c)
		}
	}
}

// AdoptPrimary is the AdoptPrimary of the Canary's kind; a kind Flagger has no objects of
// adopts nothing.
func (k Kinds) AdoptPrimary(ctx context.Context, c *siskinv1.Canary) (Adoption, error) {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return Adoption{}, err
	}
	if ad, ok := a.(Adopter); ok {
		return ad.AdoptPrimary(ctx, c)
	}
	return Adoption{}, nil
}

// kindOf is the Canary's target kind, Deployment when it names none.
func kindOf(c *siskinv1.Canary) string {
	if c.Spec.TargetRef.Kind == "" {
		return KindDeployment
	}
	return c.Spec.TargetRef.Kind
}

// ObserveShare is the ObserveShare of the Canary's kind, ErrUnsupported for a kind that is not
// a Sharer.
func (k Kinds) ObserveShare(ctx context.Context, c *siskinv1.Canary) (canary.Route, error) {
	s, err := k.sharer(c)
	if err != nil {
		return canary.Route{}, err
	}
	return s.ObserveShare(ctx, c)
}

// ApplyShare is the ApplyShare of the Canary's kind.
func (k Kinds) ApplyShare(ctx context.Context, c *siskinv1.Canary, desired canary.DesiredRoute) error {
	s, err := k.sharer(c)
	if err != nil {
		return err
	}
	return s.ApplyShare(ctx, c, desired)
}

// Pods is the Pods of the Canary's kind.
func (k Kinds) Pods(ctx context.Context, c *siskinv1.Canary) (canaryPods, primaryPods string, err error) {
	s, err := k.sharer(c)
	if err != nil {
		return "", "", err
	}
	return s.Pods(ctx, c)
}

func (k Kinds) sharer(c *siskinv1.Canary) (Sharer, error) {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return nil, err
	}
	s, ok := a.(Sharer)
	if !ok {
		return nil, fmt.Errorf("a %s target's canary cannot be given a share of pods: %w", c.Spec.TargetRef.Kind, ErrUnsupported)
	}
	return s, nil
}

func (k Kinds) do(c *siskinv1.Canary, fn func(Adapter) error) error {
	a, err := k.For(c.Spec.TargetRef.Kind)
	if err != nil {
		return err
	}
	return fn(a)
}

var (
	_ Targets = (*Deployment)(nil)
	_ Adapter = (*DaemonSet)(nil)
	_ Adopter = (*DaemonSet)(nil)
	_ Targets = Kinds(nil)
)
