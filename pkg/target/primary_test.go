package target

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func ensurePrimary(t *testing.T, objects ...client.Object) (*Deployment, client.Client, *appsv1.Deployment) {
	t.Helper()
	d, cl := newAdapter(t, objects...)
	if err := d.EnsurePrimary(context.Background(), newCanary()); err != nil {
		t.Fatal(err)
	}
	return d, cl, get(t, cl, "podinfo-primary", &appsv1.Deployment{})
}

func TestEnsurePrimaryClonesTheTarget(t *testing.T) {
	_, _, p := ensurePrimary(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
	tmpl := p.Spec.Template

	t.Run("the selector and the pod labels select primary pods", func(t *testing.T) {
		if got := p.Spec.Selector.MatchLabels["app"]; got != "podinfo-primary" {
			t.Fatalf("selector app = %q", got)
		}
		if tmpl.Labels["app"] != "podinfo-primary" || tmpl.Labels["version"] != "v1" {
			t.Fatalf("template labels %v", tmpl.Labels)
		}
	})
	t.Run("spread and affinity selectors that meant the target's pods mean the primary's", func(t *testing.T) {
		if got := tmpl.Spec.TopologySpreadConstraints[0].LabelSelector.MatchLabels["app"]; got != "podinfo-primary" {
			t.Fatalf("topology spread selector app = %q", got)
		}
		anti := tmpl.Spec.Affinity.PodAntiAffinity
		vals := anti.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector.MatchExpressions[0].Values
		if vals[0] != "podinfo-primary" || vals[1] != "other" {
			t.Fatalf("anti-affinity values %v", vals)
		}
		if got := anti.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector.MatchLabels["app"]; got != "database" {
			t.Fatalf("selector of another app was rewritten to %q", got)
		}
	})
	t.Run("the pod reads the primary copies of its configs", func(t *testing.T) {
		if got := tmpl.Spec.Volumes[0].ConfigMap.Name; got != "podinfo-config-primary" {
			t.Fatalf("volume configmap = %q", got)
		}
		if got := tmpl.Spec.Containers[0].EnvFrom[0].SecretRef.Name; got != "podinfo-env-primary" {
			t.Fatalf("envFrom secret = %q", got)
		}
	})
	t.Run("pod annotations are copied, plus only a deterministic config checksum", func(t *testing.T) {
		want := map[string]string{"prometheus.io/scrape": "true", AnnotationConfigChecksum: tmpl.Annotations[AnnotationConfigChecksum]}
		if tmpl.Annotations[AnnotationConfigChecksum] == "" || !maps.Equal(tmpl.Annotations, want) {
			t.Fatalf("template annotations %v", tmpl.Annotations)
		}
		_, _, again := ensurePrimary(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
		if !equality.Semantic.DeepEqual(again.Spec.Template, tmpl) {
			t.Fatal("two primaries cloned from one target differ")
		}
	})
	t.Run("workload labels and annotations are copied without GitOps ownership keys", func(t *testing.T) {
		wantLabels := map[string]string{"team": "a", "app.kubernetes.io/part-of": "demo"}
		if !maps.Equal(p.Labels, wantLabels) {
			t.Fatalf("labels %v, want %v", p.Labels, wantLabels)
		}
		for k := range p.Annotations {
			if strings.Contains(k, "fluxcd") || strings.Contains(k, "last-applied") {
				t.Fatalf("annotation %s copied", k)
			}
		}
		if p.Annotations["owner"] != "team-a" || p.Annotations[AnnotationRevision] == "" || p.Annotations[AnnotationCanary] != "podinfo" {
			t.Fatalf("annotations %v", p.Annotations)
		}
	})
	t.Run("the rollout settings and replicas are the target's", func(t *testing.T) {
		if *p.Spec.Replicas != 3 || p.Spec.MinReadySeconds != 5 || *p.Spec.RevisionHistoryLimit != 4 ||
			*p.Spec.ProgressDeadlineSeconds != 120 || p.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Fatalf("spec %+v", p.Spec)
		}
	})
	t.Run("the canary controls the primary", func(t *testing.T) { assertControlledByCanary(t, p) })
}

func TestEnsurePrimaryReplicas(t *testing.T) {
	tests := []struct {
		name   string
		target func(*appsv1.Deployment)
		want   int32
	}{
		{name: "a target at five gives a primary at five", target: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) }, want: 5},
		{name: "a target at zero gives its remembered replicas", target: func(d *appsv1.Deployment) {
			d.Spec.Replicas = ptr.To[int32](0)
			d.Annotations = map[string]string{AnnotationReplicas: "4"}
		}, want: 4},
		{name: "a target at zero with nothing remembered gives one", target: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](0) }, want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, p := ensurePrimary(t, objs([]client.Object{newTarget(tt.target)}, defaultConfigs())...)
			if got := *p.Spec.Replicas; got != tt.want {
				t.Fatalf("primary replicas = %d, want %d", got, tt.want)
			}
		})
	}
}

func TestEnsurePrimaryOwnership(t *testing.T) {
	existing := func(mut func(*appsv1.Deployment)) *appsv1.Deployment {
		p := newTarget()
		p.Name = "podinfo-primary"
		p.Spec.Template.Spec.Containers[0].Image = "old"
		mut(p)
		return p
	}
	tests := []struct {
		name    string
		primary *appsv1.Deployment
		wantErr error
		adopted bool
	}{
		{
			name: "a primary controlled by the canary is left as it is",
			primary: existing(func(p *appsv1.Deployment) {
				p.OwnerReferences = []metav1.OwnerReference{ownerRef(newCanary())}
			}),
		},
		{
			name:    "a primary orphaned from the canary is adopted",
			primary: existing(func(p *appsv1.Deployment) { p.Annotations = map[string]string{AnnotationCanary: "podinfo"} }),
			adopted: true,
		},
		{
			name:    "a deployment named like the primary but created by someone else is not taken over",
			primary: existing(func(*appsv1.Deployment) {}),
			wantErr: ErrNotOwned,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, cl := newAdapter(t, objs([]client.Object{newTarget(), tt.primary}, defaultConfigs())...)
			err := d.EnsurePrimary(context.Background(), newCanary())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			p := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
			if p.Spec.Template.Spec.Containers[0].Image != "old" {
				t.Fatal("EnsurePrimary changed an existing primary's template")
			}
			assertControlledByCanary(t, p)
		})
	}
}

func TestEnsurePrimaryNeedsASelectorLabel(t *testing.T) {
	tgt := newTarget(func(d *appsv1.Deployment) {
		d.Spec.Selector.MatchLabels = map[string]string{"component": "web"}
	})
	d, _ := newAdapter(t, objs([]client.Object{tgt}, defaultConfigs())...)
	err := d.EnsurePrimary(context.Background(), newCanary())
	if err == nil || !strings.Contains(err.Error(), "app, name, app.kubernetes.io/name") {
		t.Fatalf("error = %v, want one naming the selector labels", err)
	}
}

func TestSelectorLabelUsesTheConfiguredOrder(t *testing.T) {
	dep := newTarget(func(d *appsv1.Deployment) {
		d.Spec.Selector.MatchLabels = map[string]string{"app": "x", "app.kubernetes.io/name": "y"}
	})
	k, v, err := SelectorLabel(dep, []string{"app.kubernetes.io/name", "app"})
	if err != nil || k != "app.kubernetes.io/name" || v != "y" {
		t.Fatalf("SelectorLabel = %q, %q, %v", k, v, err)
	}
}

func TestPromote(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		// change edits the world after EnsurePrimary.
		change func(*testing.T, client.Client)
		hpa    bool
		check  func(t *testing.T, before, after *appsv1.Deployment)
	}{
		{
			name:   "promoting an unchanged target writes nothing",
			change: func(*testing.T, client.Client) {},
			check: func(t *testing.T, before, after *appsv1.Deployment) {
				if before.ResourceVersion != after.ResourceVersion {
					t.Fatalf("primary was written: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
				}
			},
		},
		{
			name: "a new image reaches the primary with its labels and config references rewritten",
			change: func(t *testing.T, cl client.Client) {
				updateTarget(t, cl, func(d *appsv1.Deployment) {
					d.Spec.Template.Spec.Containers[0].Image = "podinfo:6.0.1"
				})
			},
			check: func(t *testing.T, _, after *appsv1.Deployment) {
				c := after.Spec.Template
				if c.Spec.Containers[0].Image != "podinfo:6.0.1" || c.Labels["app"] != "podinfo-primary" ||
					c.Spec.Volumes[0].ConfigMap.Name != "podinfo-config-primary" {
					t.Fatalf("template %+v", c)
				}
			},
		},
		{
			name: "a config change rolls the primary through its config checksum only",
			change: func(t *testing.T, cl client.Client) {
				cm := get(t, cl, "podinfo-config", &corev1.ConfigMap{})
				cm.Data["a"] = "2"
				if err := cl.Update(ctx, cm); err != nil {
					t.Fatal(err)
				}
			},
			check: func(t *testing.T, before, after *appsv1.Deployment) {
				b, a := before.Spec.Template.DeepCopy(), after.Spec.Template.DeepCopy()
				if b.Annotations[AnnotationConfigChecksum] == a.Annotations[AnnotationConfigChecksum] {
					t.Fatal("config checksum unchanged")
				}
				delete(b.Annotations, AnnotationConfigChecksum)
				delete(a.Annotations, AnnotationConfigChecksum)
				if !equality.Semantic.DeepEqual(a, b) {
					t.Fatal("template changed beyond the config checksum")
				}
				if before.Annotations[AnnotationRevision] == after.Annotations[AnnotationRevision] {
					t.Fatal("revision unchanged")
				}
			},
		},
		{
			name: "replicas follow the target when no autoscaler drives them",
			change: func(t *testing.T, cl client.Client) {
				updateTarget(t, cl, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](6) })
			},
			check: func(t *testing.T, _, after *appsv1.Deployment) {
				if *after.Spec.Replicas != 6 {
					t.Fatalf("replicas = %d, want 6", *after.Spec.Replicas)
				}
			},
		},
		{
			name: "replicas are the autoscaler's business when there is one",
			hpa:  true,
			change: func(t *testing.T, cl client.Client) {
				updateTarget(t, cl, func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](6) })
			},
			check: func(t *testing.T, _, after *appsv1.Deployment) {
				if *after.Spec.Replicas != 3 {
					t.Fatalf("replicas = %d, want 3", *after.Spec.Replicas)
				}
			},
		},
		{
			name: "annotations other controllers put on the primary survive",
			change: func(t *testing.T, cl client.Client) {
				p := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
				p.Annotations["deployment.kubernetes.io/revision"] = "7"
				if err := cl.Update(ctx, p); err != nil {
					t.Fatal(err)
				}
				updateTarget(t, cl, func(d *appsv1.Deployment) { d.Annotations["owner"] = "team-b" })
			},
			check: func(t *testing.T, _, after *appsv1.Deployment) {
				if after.Annotations["deployment.kubernetes.io/revision"] != "7" || after.Annotations["owner"] != "team-b" {
					t.Fatalf("annotations %v", after.Annotations)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCanary()
			if tt.hpa {
				c = newCanary(withHPA(nil, nil))
			}
			d, cl := newAdapter(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
			if err := d.EnsurePrimary(ctx, c); err != nil {
				t.Fatal(err)
			}
			tt.change(t, cl)
			before := get(t, cl, "podinfo-primary", &appsv1.Deployment{})
			if err := d.Promote(ctx, c, ""); err != nil {
				t.Fatal(err)
			}
			tt.check(t, before, get(t, cl, "podinfo-primary", &appsv1.Deployment{}))
		})
	}
}

func TestPromoteRefusesARevisionThatWasNotAnalysed(t *testing.T) {
	ctx := context.Background()
	c := newCanary()
	d, cl := newAdapter(t, objs([]client.Object{newTarget()}, defaultConfigs())...)
	if err := d.EnsurePrimary(ctx, c); err != nil {
		t.Fatal(err)
	}
	analysed, _, err := d.Observe(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	updateTarget(t, cl, func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "unanalysed" })
	if err := d.Promote(ctx, c, analysed.Fingerprint); !errors.Is(err, ErrRevisionChanged) {
		t.Fatalf("error = %v, want ErrRevisionChanged", err)
	}
	if img := get(t, cl, "podinfo-primary", &appsv1.Deployment{}).Spec.Template.Spec.Containers[0].Image; img == "unanalysed" {
		t.Fatal("unanalysed revision reached the primary")
	}
}

func updateTarget(t *testing.T, cl client.Client, mut func(*appsv1.Deployment)) {
	t.Helper()
	d := get(t, cl, "podinfo", &appsv1.Deployment{})
	mut(d)
	if err := cl.Update(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}
