package target

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Rollout simulations per kind: the real planner (canary.NeedsFor, canary.Plan) drives the
// real adapter of each kind against a fake API server, round by round, while stand-ins for
// the workload controllers settle what the adapter wrote (a Deployment's pods, a DaemonSet's
// nodes, a StatefulSet's partitioned update and the pods a rollback deletes). Each kind's log
// of what moved is compared with testdata/simulations/<name>.golden; -update rewrites them.

var update = flag.Bool("update", false, "rewrite the golden simulation logs in testdata")

// simNodes is how many nodes the DaemonSet stand-in runs a DaemonSet on.
const simNodes = 3

// simKind is one kind's simulation: its Canary, its objects, and how to render them.
type simKind struct {
	name    string
	canary  func(*siskinv1.Canary)
	objects []client.Object
	// release changes the target's pod template to image version v.
	release func(ctx context.Context, c client.Client, v string) error
	// describe renders the objects the kind's rollout moves.
	describe func(ctx context.Context, c client.Client) string
}

// sim is a rollout simulation in progress.
type sim struct {
	t       *testing.T
	kind    simKind
	cl      client.Client
	adapter Adapter
	c       *siskinv1.Canary
	now     time.Time
	log     strings.Builder
	// route is the mesh route of kinds that are not Sharers: what was last applied.
	route canary.Route
	// failFrom makes every analysis step fail from this canary weight on (0: none fails).
	failFrom int32
}

func (s *sim) observe(ctx context.Context) canary.Observation {
	s.t.Helper()
	obs := canary.Observation{Now: s.now, Provider: canary.Provider(&s.c.Spec, siskinv1.ProviderIstio)}
	var err error
	if obs.Target, obs.Primary, err = s.adapter.Observe(ctx, s.c); err != nil {
		s.t.Fatalf("observe: %v", err)
	}
	obs.Route = s.route
	if sh, ok := s.adapter.(Sharer); ok && obs.Provider == siskinv1.ProviderReplicas {
		if obs.Route, err = sh.ObserveShare(ctx, s.c); err != nil {
			s.t.Fatalf("observe share: %v", err)
		}
	}
	return obs
}

// round runs one reconcile: observe, gather what the planner needs, plan, act, settle.
func (s *sim) round(ctx context.Context) time.Duration {
	s.t.Helper()
	obs := s.observe(ctx)
	needs := canary.NeedsFor(s.c, obs)
	for _, g := range needs.Gates {
		if obs.Gates == nil {
			obs.Gates = map[siskinv1.WebhookType]canary.Gate{}
		}
		obs.Gates[g] = canary.Gate{Open: g != siskinv1.RollbackHook}
	}
	if needs.Step {
		verdict := siskinv1.VerdictPass
		if s.failFrom > 0 && s.c.Status.CanaryWeight >= s.failFrom {
			verdict = siskinv1.VerdictFail
		}
		obs.Checks = []siskinv1.CheckResult{{Kind: "metric", Name: "error-rate", Verdict: verdict, Message: "error-rate " + string(verdict)}}
	}
	before := s.c.Status.DeepCopy()
	d := canary.Plan(s.c, obs)
	s.c.Status = d.Status
	var done []string
	for _, a := range d.Actions {
		if err := s.do(ctx, a); err != nil {
			s.t.Fatalf("%s: %v", a.Type, err)
		}
		done = append(done, describeAction(a))
	}
	settle(ctx, s.t, s.cl)
	if before.Phase != s.c.Status.Phase || before.CanaryWeight != s.c.Status.CanaryWeight || len(done) > 0 {
		fmt.Fprintf(&s.log, "%s %-16s w=%-3d %s\n", s.at(), s.c.Status.Phase, s.c.Status.CanaryWeight, strings.Join(done, ", "))
		fmt.Fprintf(&s.log, "      %s\n", s.kind.describe(ctx, s.cl))
	}
	return d.RequeueAfter
}

var simStart = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *sim) at() string {
	d := s.now.Sub(simStart)
	return fmt.Sprintf("%02d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func describeAction(a canary.Action) string {
	switch a.Type {
	case canary.SetRoute:
		return fmt.Sprintf("SetRoute(%d/%d)", a.Route.PrimaryWeight, a.Route.CanaryWeight)
	case canary.CallWebhooks:
		return fmt.Sprintf("CallWebhooks(%s)", a.Hook)
	}
	return string(a.Type)
}

func (s *sim) do(ctx context.Context, a canary.Action) error {
	switch a.Type {
	case canary.EnsureServices, canary.EnsureRoute, canary.CallWebhooks:
		return nil
	case canary.EnsurePrimary:
		return s.adapter.EnsurePrimary(ctx, s.c)
	case canary.ScaleTargetUp:
		return s.adapter.ScaleUp(ctx, s.c)
	case canary.ScaleTargetDown:
		return s.adapter.ScaleDown(ctx, s.c)
	case canary.Promote:
		return s.adapter.Promote(ctx, s.c, a.Revision)
	case canary.SetRoute:
		if sh, ok := s.adapter.(Sharer); ok && canary.Provider(&s.c.Spec, siskinv1.ProviderIstio) == siskinv1.ProviderReplicas {
			return sh.ApplyShare(ctx, s.c, a.Route)
		}
		s.route = canary.Route{Converged: true, PrimaryWeight: a.Route.PrimaryWeight, CanaryWeight: a.Route.CanaryWeight}
		return nil
	}
	return fmt.Errorf("the simulation does not run %s", a.Type)
}

// until runs rounds, each at the time the planner asked for (at most a minute later), until
// the phase is one of phases.
func (s *sim) until(ctx context.Context, phases ...siskinv1.CanaryPhase) {
	s.t.Helper()
	for i := 0; i < 200; i++ {
		wait := s.round(ctx)
		if slices.Contains(phases, s.c.Status.Phase) && wait == 0 {
			return
		}
		if wait <= 0 || wait > time.Minute {
			wait = 5 * time.Second
		}
		s.now = s.now.Add(wait)
	}
	s.t.Fatalf("no %v after 200 rounds: phase %s", phases, s.c.Status.Phase)
}

func simulateKind(t *testing.T, k simKind) {
	ctx := context.Background()
	cl := newSimCluster(t, k.objects...)
	s := &sim{t: t, kind: k, cl: cl, now: simStart, c: newCanary(func(c *siskinv1.Canary) {
		c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Threshold: 2, StepWeights: []int32{20, 40, 60}}
		if k.canary != nil {
			k.canary(c)
		}
	})}
	s.c.Spec.Provider = canary.Provider(&s.c.Spec, siskinv1.ProviderIstio)
	var err error
	if s.adapter, err = NewKinds(cl, cl, nil, nil).For(s.c.Spec.TargetRef.Kind); err != nil {
		t.Fatal(err)
	}
	settle(ctx, t, cl)
	fmt.Fprintf(&s.log, "# %s\n", k.name)
	s.until(ctx, siskinv1.PhaseInitialized)

	fmt.Fprintf(&s.log, "# release v2: every step passes\n")
	if err := k.release(ctx, cl, "v2"); err != nil {
		t.Fatal(err)
	}
	s.until(ctx, siskinv1.PhaseSucceeded)

	fmt.Fprintf(&s.log, "# release v3: its analysis fails from weight 40\n")
	if err := k.release(ctx, cl, "v3"); err != nil {
		t.Fatal(err)
	}
	s.failFrom = 40
	s.until(ctx, siskinv1.PhaseFailed)

	path := filepath.Join("testdata", "simulations", k.name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(s.log.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/target/ -run TestRolloutSimulation -update)", err)
	}
	if got := s.log.String(); got != string(want) {
		t.Errorf("the %s rollout moved otherwise than %s:\n%s", k.name, path, got)
	}
}

func TestRolloutSimulationPerKind(t *testing.T) {
	for _, k := range simKinds() {
		t.Run(k.name, func(t *testing.T) { simulateKind(t, k) })
	}
}

func simKinds() []simKind {
	deployment := newTarget(func(d *appsv1.Deployment) {
		d.Spec.Replicas = ptr.To[int32](4)
		d.Spec.Template.Spec.Containers[0].Image = "podinfo:v1"
		d.Status = appsv1.DeploymentStatus{}
	})
	daemonSet := newTargetDaemonSet(func(ds *appsv1.DaemonSet) {
		ds.Spec.Template.Spec.Containers[0].Image = "podinfo:v1"
		ds.Status = appsv1.DaemonSetStatus{}
	})
	statefulSet := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "podinfo", Namespace: ns, Generation: 1},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr.To[int32](5), ServiceName: "podinfo", Selector: deployment.Spec.Selector,
			Template:       *deployment.Spec.Template.DeepCopy(),
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType},
		},
	}
	return []simKind{
		{
			name:    "deployment",
			objects: append(defaultConfigs(), deployment),
			release: releaseDeployment("podinfo"),
			describe: func(ctx context.Context, c client.Client) string {
				return describeDeployment(ctx, c, "podinfo") + " | " + describeDeployment(ctx, c, "podinfo-primary")
			},
		},
		{
			name: "worker",
			canary: func(c *siskinv1.Canary) {
				c.Spec.Provider = siskinv1.ProviderReplicas
				c.Spec.Service = siskinv1.CanaryService{}
			},
			objects: append(defaultConfigs(), deployment.DeepCopy()),
			release: releaseDeployment("podinfo"),
			describe: func(ctx context.Context, c client.Client) string {
				return describeDeployment(ctx, c, "podinfo") + " | " + describeDeployment(ctx, c, "podinfo-primary")
			},
		},
		{
			name: "statefulset",
			canary: func(c *siskinv1.Canary) {
				c.Spec.TargetRef.Kind = KindStatefulSet
				c.Spec.Service = siskinv1.CanaryService{}
			},
			objects: []client.Object{statefulSet},
			release: func(ctx context.Context, c client.Client, v string) error {
				return edit(ctx, c, "podinfo", &appsv1.StatefulSet{}, func(sts *appsv1.StatefulSet) {
					sts.Spec.Template.Spec.Containers[0].Image = "podinfo:" + v
				})
			},
			describe: func(ctx context.Context, c client.Client) string { return describeStatefulSet(ctx, c, "podinfo") },
		},
		{
			name:    "daemonset",
			canary:  func(c *siskinv1.Canary) { c.Spec.TargetRef.Kind = KindDaemonSet },
			objects: append(defaultConfigs(), daemonSet),
			release: func(ctx context.Context, c client.Client, v string) error {
				return edit(ctx, c, "podinfo", &appsv1.DaemonSet{}, func(ds *appsv1.DaemonSet) {
					ds.Spec.Template.Spec.Containers[0].Image = "podinfo:" + v
				})
			},
			describe: func(ctx context.Context, c client.Client) string {
				return describeDaemonSet(ctx, c, "podinfo") + " | " + describeDaemonSet(ctx, c, "podinfo-primary")
			},
		},
	}
}

func releaseDeployment(name string) func(ctx context.Context, c client.Client, v string) error {
	return func(ctx context.Context, c client.Client, v string) error {
		return edit(ctx, c, name, &appsv1.Deployment{}, func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = "podinfo:" + v
		})
	}
}

// edit reads the named object of the test namespace, changes it and updates it.
func edit[T client.Object](ctx context.Context, c client.Client, name string, obj T, change func(T)) error {
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj); err != nil {
		return err
	}
	change(obj)
	obj.SetGeneration(obj.GetGeneration() + 1)
	return c.Update(ctx, obj)
}

func imageVersion(spec *corev1.PodSpec) string {
	if len(spec.Containers) == 0 {
		return "?"
	}
	_, v, _ := strings.Cut(spec.Containers[0].Image, ":")
	return v
}

func describeDeployment(ctx context.Context, c client.Client, name string) string {
	d := &appsv1.Deployment{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, d); err != nil {
		return name + " absent"
	}
	return fmt.Sprintf("%s %s×%d", name, imageVersion(&d.Spec.Template.Spec), ptr.Deref(d.Spec.Replicas, 1))
}

func describeDaemonSet(ctx context.Context, c client.Client, name string) string {
	ds := &appsv1.DaemonSet{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ds); err != nil {
		return name + " absent"
	}
	return fmt.Sprintf("%s %s on %d nodes", name, imageVersion(&ds.Spec.Template.Spec), ds.Status.DesiredNumberScheduled)
}

// settle plays the workload controllers of the test namespace: every Deployment and
// DaemonSet is rolled out and ready at its latest generation, a DaemonSet on simNodes nodes
// unless its node selector keeps it off all of them.
func settle(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	deps := &appsv1.DeploymentList{}
	if err := c.List(ctx, deps, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range deps.Items {
		d := &deps.Items[i]
		n := ptr.Deref(d.Spec.Replicas, 1)
		d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
		if err := c.Status().Update(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	dss := &appsv1.DaemonSetList{}
	if err := c.List(ctx, dss, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range dss.Items {
		ds := &dss.Items[i]
		var n int32 = simNodes
		if _, off := ds.Spec.Template.Spec.NodeSelector[ScaleToZeroKey]; off {
			n = 0
		}
		ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: ds.Generation, DesiredNumberScheduled: n, CurrentNumberScheduled: n,
			UpdatedNumberScheduled: n, NumberReady: n, NumberAvailable: n}
		if err := c.Status().Update(ctx, ds); err != nil {
			t.Fatal(err)
		}
	}
	settleStatefulSets(ctx, t, c)
}

// newSimCluster is a fake API server with the status subresource of the workload kinds.
func newSimCluster(t *testing.T, objs ...client.Object) client.Client {
	t.Helper()
	return fake.NewClientBuilder().WithScheme(testScheme(t)).WithObjects(objs...).
		WithStatusSubresource(&appsv1.Deployment{}, &appsv1.DaemonSet{}, &appsv1.StatefulSet{}).Build()
}

// settleStatefulSets plays the StatefulSet controller with a partitioned rolling update: the
// revision of a template is the StatefulSet's name and its image's version; pods at or above
// the partition run the update revision, pods below it keep theirs, and a missing pod below
// it comes back on the current revision. The current revision becomes the update revision
// once every pod runs it.
func settleStatefulSets(ctx context.Context, t *testing.T, c client.Client) {
	t.Helper()
	list := &appsv1.StatefulSetList{}
	if err := c.List(ctx, list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		sts := &list.Items[i]
		n := ptr.Deref(sts.Spec.Replicas, 1)
		partition := int32(0)
		if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil {
			partition = ptr.Deref(ru.Partition, 0)
		}
		update := sts.Name + "-" + imageVersion(&sts.Spec.Template.Spec)
		current := sts.Status.CurrentRevision
		if current == "" {
			current = update
		}
		var updated int32
		for o := int32(0); o < n; o++ {
			pod := &corev1.Pod{}
			key := client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("%s-%d", sts.Name, o)}
			err := c.Get(ctx, key, pod)
			rev := pod.Labels[appsv1.ControllerRevisionHashLabelKey]
			switch {
			case o >= partition:
				rev = update
			case err != nil:
				rev = current
			}
			if err != nil {
				pod = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: key.Name}}
			}
			pod.Labels = map[string]string{}
			for k, v := range sts.Spec.Selector.MatchLabels {
				pod.Labels[k] = v
			}
			pod.Labels[appsv1.ControllerRevisionHashLabelKey] = rev
			if err != nil {
				if err := c.Create(ctx, pod); err != nil {
					t.Fatal(err)
				}
			} else if err := c.Update(ctx, pod); err != nil {
				t.Fatal(err)
			}
			if rev == update {
				updated++
			}
		}
		if updated == n {
			current = update
		}
		var currentPods int32
		if current == update {
			currentPods = updated
		} else {
			currentPods = n - updated
		}
		sts.Status = appsv1.StatefulSetStatus{ObservedGeneration: sts.Generation, Replicas: n, ReadyReplicas: n, AvailableReplicas: n,
			CurrentReplicas: currentPods, UpdatedReplicas: updated, CurrentRevision: current, UpdateRevision: update}
		if err := c.Status().Update(ctx, sts); err != nil {
			t.Fatal(err)
		}
	}
}

// describeStatefulSet renders a StatefulSet's partition and the version each pod runs.
func describeStatefulSet(ctx context.Context, c client.Client, name string) string {
	sts := &appsv1.StatefulSet{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, sts); err != nil {
		return name + " absent"
	}
	partition := "none"
	if ru := sts.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		partition = fmt.Sprint(*ru.Partition)
	}
	var pods []string
	for o := int32(0); o < ptr.Deref(sts.Spec.Replicas, 1); o++ {
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: fmt.Sprintf("%s-%d", name, o)}, pod); err != nil {
			pods = append(pods, "-")
			continue
		}
		pods = append(pods, strings.TrimPrefix(pod.Labels[appsv1.ControllerRevisionHashLabelKey], name+"-"))
	}
	return fmt.Sprintf("%s template %s partition %s pods [%s]", name, imageVersion(&sts.Spec.Template.Spec), partition, strings.Join(pods, " "))
}
