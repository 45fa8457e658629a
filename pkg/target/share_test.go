package target

import (
	"context"
	"fmt"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// workerCanary makes the Canary a worker canary: provider replicas, no Services.
func workerCanary(c *siskinv1.Canary) {
	c.Spec.Provider = siskinv1.ProviderReplicas
	c.Spec.Service = siskinv1.CanaryService{}
}

// workerPrimary is the target's primary, running replicas.
func workerPrimary(replicas int32) *appsv1.Deployment {
	return newTarget(func(d *appsv1.Deployment) {
		d.Name = PrimaryName(d.Name)
		d.Spec.Replicas = ptr.To(replicas)
	})
}

// workerReplicas sets the target's replicas, and its memory of the user's count when remembered > 0.
func workerReplicas(n, remembered int32) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To(n)
		if remembered > 0 {
			d.Annotations[AnnotationReplicas] = fmt.Sprint(remembered)
		}
	}
}

// markWorkerAvailable reports every replica of a Deployment rolled out and available.
func markWorkerAvailable(t *testing.T, cl client.Client, name string) {
	t.Helper()
	d := get(t, cl, name, &appsv1.Deployment{})
	n := ptr.Deref(d.Spec.Replicas, 1)
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	if err := cl.Status().Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func applyWorkerShare(t *testing.T, d *Deployment, c *siskinv1.Canary, w int32) {
	t.Helper()
	if err := d.ApplyShare(context.Background(), c, canary.DesiredRoute{PrimaryWeight: 100 - w, CanaryWeight: w}); err != nil {
		t.Fatalf("ApplyShare(%d): %v", w, err)
	}
}

func observeWorkerShare(t *testing.T, d *Deployment, c *siskinv1.Canary) canary.Route {
	t.Helper()
	r, err := d.ObserveShare(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestAWorkerCanaryRunsItsShareOfThePrimaryReplicas(t *testing.T) {
	tests := []struct {
		primary int32
		weight  int32
		want    int32
	}{
		{1, 10, 1}, {1, 25, 1}, {1, 50, 1},
		{4, 10, 1}, {4, 25, 1}, {4, 50, 2},
		{10, 10, 1}, {10, 25, 3}, {10, 50, 5},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d of %d at weight %d", tt.want, tt.primary, tt.weight), func(t *testing.T) {
			c := newCanary(workerCanary)
			d, cl := newAdapter(t, newTarget(workerReplicas(1, 6), func(d *appsv1.Deployment) {
				d.Status = appsv1.DeploymentStatus{ObservedGeneration: 1}
			}), workerPrimary(tt.primary))
			applyWorkerShare(t, d, c, tt.weight)

			got := get(t, cl, "podinfo", &appsv1.Deployment{})
			if n := *got.Spec.Replicas; n != tt.want {
				t.Errorf("target runs %d replicas, want %d", n, tt.want)
			}
			if w := got.Annotations[AnnotationWeight]; w != fmt.Sprint(tt.weight) {
				t.Errorf("applied weight recorded as %q, want %d", w, tt.weight)
			}
			if m := got.Annotations[AnnotationReplicas]; m != "6" {
				t.Errorf("user's replicas remembered as %q, want 6 kept", m)
			}
			if r := observeWorkerShare(t, d, c); r.Converged {
				t.Errorf("converged before the share's pods are available: %+v", r)
			}
			markWorkerAvailable(t, cl, "podinfo")
			r := observeWorkerShare(t, d, c)
			if !r.Converged || r.CanaryWeight != tt.weight || r.PrimaryWeight != 100-tt.weight {
				t.Errorf("observed %+v, want converged at %d/%d", r, 100-tt.weight, tt.weight)
			}
			if p := *get(t, cl, "podinfo-primary", &appsv1.Deployment{}).Spec.Replicas; p != tt.primary {
				t.Errorf("primary runs %d replicas after the share, want its %d", p, tt.primary)
			}
		})
	}
}

func TestWeightZeroTakesNoPodsFromAWorkerCanary(t *testing.T) {
	c := newCanary(workerCanary)
	d, cl := newAdapter(t, newTarget(workerReplicas(2, 4)), workerPrimary(4))
	applyWorkerShare(t, d, c, 50)
	markWorkerAvailable(t, cl, "podinfo")

	applyWorkerShare(t, d, c, 0)
	got := get(t, cl, "podinfo", &appsv1.Deployment{})
	if n := *got.Spec.Replicas; n != 2 {
		t.Errorf("weight 0 scaled the target to %d replicas, want its 2 kept until ScaleDown", n)
	}
	if r := observeWorkerShare(t, d, c); !r.Converged || r.CanaryWeight != 0 || r.PrimaryWeight != 100 {
		t.Errorf("observed %+v at weight 0, want converged at 100/0", r)
	}

	if err := d.ScaleDown(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	down := get(t, cl, "podinfo", &appsv1.Deployment{})
	if *down.Spec.Replicas != 0 || down.Annotations[AnnotationReplicas] != "4" {
		t.Errorf("after ScaleDown: %d replicas, remembered %q; want 0 and the user's 4, not the share's 2",
			*down.Spec.Replicas, down.Annotations[AnnotationReplicas])
	}
}

func TestApplyShareRemembersTheUserCountOfATargetWithoutAMemory(t *testing.T) {
	c := newCanary(workerCanary)
	d, cl := newAdapter(t, newTarget(workerReplicas(4, 0)), workerPrimary(4))
	applyWorkerShare(t, d, c, 25)
	got := get(t, cl, "podinfo", &appsv1.Deployment{})
	if *got.Spec.Replicas != 1 || got.Annotations[AnnotationReplicas] != "4" {
		t.Errorf("target at %d replicas remembering %q, want its share 1 and the user's 4", *got.Spec.Replicas, got.Annotations[AnnotationReplicas])
	}
}

func TestObserveShareFollowsThePrimaryAndTheTarget(t *testing.T) {
	c := newCanary(workerCanary)
	d, cl := newAdapter(t, newTarget(workerReplicas(1, 4)), workerPrimary(4))
	if r := observeWorkerShare(t, d, c); !r.Converged || r.CanaryWeight != 0 || r.PrimaryWeight != 100 {
		t.Errorf("a target that never had a share: %+v, want converged at 100/0", r)
	}
	applyWorkerShare(t, d, c, 50)
	markWorkerAvailable(t, cl, "podinfo")
	if r := observeWorkerShare(t, d, c); !r.Converged {
		t.Fatalf("not converged at its share: %+v", r)
	}

	// The primary's autoscaler doubles it: the share is 4 now, and applying it again gives it.
	p := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
	p.Spec.Replicas = ptr.To[int32](8)
	if err := cl.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if r := observeWorkerShare(t, d, c); r.Converged || r.CanaryWeight != 50 || r.Message == "" {
		t.Errorf("observed %+v after the primary scaled to 8, want not converged at 50 with a message", r)
	}
	applyWorkerShare(t, d, c, 50)
	if n := *get(t, cl, "podinfo", &appsv1.Deployment{}).Spec.Replicas; n != 4 {
		t.Errorf("target runs %d replicas at 50%% of 8, want 4", n)
	}
}

func TestObserveShareOfAMissingTargetPutsEverythingOnThePrimary(t *testing.T) {
	d, _ := newAdapter(t, workerPrimary(4))
	r := observeWorkerShare(t, d, newCanary(workerCanary))
	if !r.Converged || r.PrimaryWeight != 100 || r.CanaryWeight != 0 {
		t.Errorf("observed %+v, want converged at 100/0", r)
	}
}

func TestScaleUpGivesAWorkerCanaryOneReplica(t *testing.T) {
	tests := []struct {
		name   string
		target *appsv1.Deployment
		want   string // the user's replicas remembered
	}{
		{"at rest with the memory of ScaleDown", newTarget(workerReplicas(0, 4)), "4"},
		{"at zero without a memory, the primary's count is remembered", newTarget(workerReplicas(0, 0)), "4"},
		{"running the user's count, it is remembered", newTarget(workerReplicas(6, 0)), "6"},
		{"running a share of an analysis restarted, the memory is kept", newTarget(workerReplicas(2, 4)), "4"},
		{"already on one replica", newTarget(workerReplicas(1, 4)), "4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanary(workerCanary)
			d, cl := newAdapter(t, tt.target, workerPrimary(4))
			if err := d.ScaleUp(context.Background(), c); err != nil {
				t.Fatal(err)
			}
			got := get(t, cl, "podinfo", &appsv1.Deployment{})
			if n := *got.Spec.Replicas; n != 1 {
				t.Errorf("target scaled to %d replicas, want 1 (a worker canary never starts on its full count)", n)
			}
			if m := got.Annotations[AnnotationReplicas]; m != tt.want {
				t.Errorf("remembered replicas %q, want %q", m, tt.want)
			}
		})
	}
}

func TestScaleUpOfARoutedCanaryStillRestoresItsFullCount(t *testing.T) {
	d, cl := newAdapter(t, newTarget(workerReplicas(0, 4)), workerPrimary(4))
	if err := d.ScaleUp(context.Background(), newCanary()); err != nil {
		t.Fatal(err)
	}
	got := get(t, cl, "podinfo", &appsv1.Deployment{})
	if *got.Spec.Replicas != 4 || got.Annotations[AnnotationReplicas] != "" {
		t.Errorf("target at %d replicas remembering %q, want 4 and no memory", *got.Spec.Replicas, got.Annotations[AnnotationReplicas])
	}
}

// A worker rollout through the adapter alone: the primary's replicas are the user's 4 at every
// point, never the canary's share.
func TestThePrimaryOfAWorkerNeverTakesTheCanaryShare(t *testing.T) {
	ctx := context.Background()
	c := newCanary(workerCanary)
	d, cl := newAdapter(t, objs([]client.Object{newTarget(workerReplicas(4, 0))}, defaultConfigs())...)
	primaryReplicas := func(when string) {
		t.Helper()
		if n := *get(t, cl, "podinfo-primary", &appsv1.Deployment{}).Spec.Replicas; n != 4 {
			t.Errorf("%s: primary has %d replicas, want the user's 4", when, n)
		}
	}
	if err := d.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	primaryReplicas("initialized")
	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}

	updateTarget(t, cl, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "podinfo:6.1.0" })
	if err := d.ScaleUp(ctx, c); err != nil {
		t.Fatal(err)
	}
	applyWorkerShare(t, d, c, 25)
	if n := *get(t, cl, "podinfo", &appsv1.Deployment{}).Spec.Replicas; n != 1 {
		t.Fatalf("target runs %d replicas at 25%% of 4, want 1", n)
	}
	if err := d.Promote(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	primaryReplicas("promoted while the target ran 1 of 4")
	if img := workerImage(get(t, cl, "podinfo-primary", &appsv1.Deployment{})); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after the promotion, want podinfo:6.1.0", img)
	}

	// A primary deleted mid-rollout is made again with the user's count, not the share.
	if err := cl.Delete(ctx, get(t, cl, "podinfo-primary", &appsv1.Deployment{})); err != nil {
		t.Fatal(err)
	}
	if err := d.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	primaryReplicas("created again while the target ran 1 of 4")
	applyWorkerShare(t, d, c, 50)
	if err := d.Promote(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	primaryReplicas("promoted while the target ran 2 of 4")

	applyWorkerShare(t, d, c, 0)
	if err := d.ScaleDown(ctx, c); err != nil {
		t.Fatal(err)
	}
	if err := d.Promote(ctx, c, ""); err != nil {
		t.Fatal(err)
	}
	primaryReplicas("promoted at rest")
}

func workerImage(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

func TestPodsOfADeploymentCanaryMatchEachWorkloadsPodsOnly(t *testing.T) {
	for _, provider := range []string{siskinv1.ProviderReplicas, siskinv1.ProviderIstio} {
		c := newCanary(func(c *siskinv1.Canary) { c.Spec.Provider, c.Spec.TargetRef.Name = provider, "web" })
		d, _ := newAdapter(t)
		canaryPods, primaryPods, err := d.Pods(context.Background(), c)
		if err != nil {
			t.Fatal(err)
		}
		// PromQL anchors =~ at both ends.
		canaryRE := regexp.MustCompile("^(?:" + canaryPods + ")$")
		primaryRE := regexp.MustCompile("^(?:" + primaryPods + ")$")
		pods := []struct {
			name            string
			canary, primary bool
		}{
			{"web-7d9f8c6b5-x2x9q", true, false},
			{"web-5b6c7d8f9-abcde", true, false},
			{"web-primary-6c8d7f9b4-abcde", false, true},
			{"web-api-7d9f8c6b5-x2x9q", false, false},
			{"web-api-primary-6c8d7f9b4-abcde", false, false},
			{"web-baseline-6c8d7f9b4-abcde", false, false},
			{"other-web-7d9f8c6b5-x2x9q", false, false},
			{"web-7d9f8c6b5", false, false},
		}
		for _, p := range pods {
			if got := canaryRE.MatchString(p.name); got != p.canary {
				t.Errorf("provider %s: canary pods %q match %s: %v, want %v", provider, canaryPods, p.name, got, p.canary)
			}
			if got := primaryRE.MatchString(p.name); got != p.primary {
				t.Errorf("provider %s: primary pods %q match %s: %v, want %v", provider, primaryPods, p.name, got, p.primary)
			}
		}
	}
}

func TestPodsQuotesTheDotsOfAName(t *testing.T) {
	d, _ := newAdapter(t)
	canaryPods, _, err := d.Pods(context.Background(), newCanary(func(c *siskinv1.Canary) { c.Spec.TargetRef.Name = "web.v2" }))
	if err != nil {
		t.Fatal(err)
	}
	if want := "web[.]v2-[a-z0-9]+-[a-z0-9]+"; canaryPods != want {
		t.Errorf("canary pods %q, want %q (no backslash inside a PromQL string)", canaryPods, want)
	}
	re := regexp.MustCompile("^(?:" + canaryPods + ")$")
	if !re.MatchString("web.v2-7d9f8c6b5-x2x9q") || re.MatchString("webxv2-7d9f8c6b5-x2x9q") {
		t.Errorf("%q does not match exactly the pods of web.v2", canaryPods)
	}
}
