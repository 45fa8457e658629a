package kubernetes

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// gitOpsAnnotations is the value of each opt-out annotation on svc ("" when absent).
func gitOpsAnnotations(svc *corev1.Service) [2]string {
	return [2]string{svc.Annotations[AnnotationFluxReconcile], svc.Annotations[AnnotationHelmDriftDetection]}
}

var bothDisabled = [2]string{"disabled", "disabled"}

func TestAnAdoptedApexServiceOptsOutOfGitOps(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, cl := newRouter(t, userApex())
	if err := r.EnsureServices(ctx, c, false); err != nil {
		t.Fatal(err)
	}
	if got := gitOpsAnnotations(getService(t, cl, "podinfo")); got != [2]string{} {
		t.Fatalf("opt-out annotations %v on the apex before Siskin switched it", got)
	}
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	adopted := getService(t, cl, "podinfo")
	if got := gitOpsAnnotations(adopted); got != bothDisabled {
		t.Fatalf("opt-out annotations %v on the adopted apex, want both disabled", got)
	}
	if got := adopted.Annotations[AnnotationAddedGitOpsKeys]; got != AnnotationHelmDriftDetection+","+AnnotationFluxReconcile {
		t.Fatalf("recorded keys %q", got)
	}

	t.Run("they are kept through later reconciles", func(t *testing.T) {
		// Someone (or a tool) drops one; the next reconcile sets it again.
		svc := getService(t, cl, "podinfo")
		delete(svc.Annotations, AnnotationFluxReconcile)
		if err := cl.Update(ctx, svc); err != nil {
			t.Fatal(err)
		}
		if err := r.EnsureServices(ctx, c, true); err != nil {
			t.Fatal(err)
		}
		again := getService(t, cl, "podinfo")
		if got := gitOpsAnnotations(again); got != bothDisabled {
			t.Fatalf("opt-out annotations %v after a reconcile, want both disabled", got)
		}
		if err := r.EnsureServices(ctx, c, true); err != nil {
			t.Fatal(err)
		}
		if getService(t, cl, "podinfo").ResourceVersion != again.ResourceVersion {
			t.Fatal("apex rewritten without a change")
		}
	})
	t.Run("handing the Service back removes them", func(t *testing.T) {
		if err := r.Finalize(ctx, c); err != nil {
			t.Fatal(err)
		}
		got := getService(t, cl, "podinfo")
		if a := gitOpsAnnotations(got); a != [2]string{} {
			t.Fatalf("opt-out annotations %v left on the handed-back apex", a)
		}
		if _, ok := got.Annotations[AnnotationAddedGitOpsKeys]; ok || got.Annotations["note"] != "mine" {
			t.Fatalf("annotations %v", got.Annotations)
		}
	})
}

func TestGitOpsOptOutRespectsTheUserAndUnmanagedMetadata(t *testing.T) {
	ctx := context.Background()
	apex := userApex()
	apex.Annotations[AnnotationHelmDriftDetection] = "disabled" // the user's own
	c := newCanary(func(s *siskinv1.CanaryService) {
		s.UnmanagedMetadata = &siskinv1.UnmanagedMetadata{Annotations: []string{AnnotationFluxReconcile}}
	})
	r, cl := newRouter(t, apex)
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		if got := gitOpsAnnotations(getService(t, cl, name)); got != [2]string{"", "disabled"} {
			t.Errorf("service %s: opt-out annotations %v, want the unmanaged one left out", name, got)
		}
	}
	if got := getService(t, cl, "podinfo").Annotations[AnnotationAddedGitOpsKeys]; got != "" {
		t.Fatalf("recorded keys %q, want none: the user set the one that is there", got)
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := gitOpsAnnotations(getService(t, cl, "podinfo")); got != [2]string{"", "disabled"} {
		t.Fatalf("opt-out annotations %v after hand-back, want the user's own kept", got)
	}
}

func TestServicesSiskinCreatesOptOutOfGitOps(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	r, cl := newRouter(t)
	if err := r.EnsureServices(ctx, c, true); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"podinfo", "podinfo-primary", "podinfo-canary"} {
		if got := gitOpsAnnotations(getService(t, cl, name)); got != bothDisabled {
			t.Errorf("service %s: opt-out annotations %v, want both disabled", name, got)
		}
	}
	if err := r.Finalize(ctx, c); err != nil {
		t.Fatal(err)
	}
	if got := gitOpsAnnotations(getService(t, cl, "podinfo")); got != [2]string{} {
		t.Fatalf("opt-out annotations %v on the released apex", got)
	}
}
