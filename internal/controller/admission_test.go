package controller

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/pkg/observability"
)

func admissionKey(i int) client.ObjectKey {
	return client.ObjectKey{Namespace: "apps", Name: fmt.Sprintf("podinfo-%d", i)}
}

func TestAdmissionIsOffWithoutATarget(t *testing.T) {
	var a rolloutAdmission
	if a.enabled() {
		t.Fatal("the zero admission is enabled")
	}
	t0 := time.Unix(1_000_000, 0)
	if rose := a.observe(admissionKey(0), t0, t0.Add(time.Hour), nil); rose != 0 {
		t.Errorf("an admission that is off rose by %d", rose)
	}
	r := &CanaryReconciler{MaxConcurrentCanaries: 7}
	if limit, adaptive := r.rolloutLimit(); limit != 7 || adaptive {
		t.Errorf("rolloutLimit() = %d, %v; want --max-concurrent-canaries alone (7, false)", limit, adaptive)
	}
}

func TestAdmissionFallsOnLateStepsAndRisesOnTimelyOnes(t *testing.T) {
	a := rolloutAdmission{target: 2 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	if got := a.current(); got != admissionStart {
		t.Fatalf("limit before any step = %d, want %d", got, admissionStart)
	}

	// A late step lowers the limit by a quarter.
	a.observe(admissionKey(0), t0, t0.Add(5*time.Second), nil)
	if got, want := a.current(), admissionStart*3/4; got != want {
		t.Fatalf("after one late step the limit is %d, want %d", got, want)
	}
	// More late steps of the same congested moment (within one target period) are one signal.
	for i := 1; i < 20; i++ {
		a.observe(admissionKey(i), t0, t0.Add(5*time.Second+time.Duration(i)*50*time.Millisecond), nil)
	}
	if got, want := a.current(), admissionStart*3/4; got != want {
		t.Fatalf("late steps within one target period lowered the limit to %d, want %d", got, want)
	}
	// Steps late for a long time take it down to the floor, never below.
	for i := 0; i < 40; i++ {
		at := t0.Add(time.Duration(10+3*i) * time.Second)
		a.observe(admissionKey(100+i), at.Add(-10*time.Second), at, nil)
	}
	if got := a.current(); got != admissionFloor {
		t.Fatalf("after a long congestion the limit is %d, want the floor %d", got, admissionFloor)
	}

	// The late steps at the floor left it where it fell from (the threshold), so steps served
	// on time raise it by one over the limit each, and report by how much it rose in whole
	// rollouts: eleven at the floor of ten, by one.
	later := t0.Add(time.Hour)
	rose := 0
	for i := 0; i < 11; i++ {
		rose += a.observe(admissionKey(200+i), later, later.Add(time.Second), nil)
	}
	if got, want := a.current(), admissionFloor+1; got != want || rose != 1 {
		t.Fatalf("after 11 on-time steps the limit is %d (rose %d), want %d (rose 1)", got, rose, want)
	}
}

// TestAdmissionFallsFromTheRolloutsInFlightAndThenRisesSlowly: a late step lowers the limit to
// three quarters of the rollouts in flight (a limit that sat far above them held nothing back);
// while more are in flight than the limit, late steps do not lower it again (it holds new
// rollouts back already and takes effect as they end: lowering it on each late step took it to
// the floor at N = 1,000); on-time steps raise it by one each back to where the API server fell
// behind and by one over the limit past it. Once no rollout is in flight, slow start begins
// again.
func TestAdmissionFallsFromTheRolloutsInFlightAndThenRisesSlowly(t *testing.T) {
	a := rolloutAdmission{target: 2 * time.Second}
	t0 := time.Unix(1_000_000, 0)
	// Slow start: 300 rollouts in flight, each step on time, take the limit up by one per step
	// (up to twice the rollouts measured in flight: the first fifty keep it at 100).
	for i := 0; i < 300; i++ {
		a.observe(admissionKey(i), t0, t0, nil)
	}
	if got, want := a.current(), admissionStart+250; got != want {
		t.Fatalf("after 300 on-time steps the limit is %d, want %d", got, want)
	}
	// A late step with 200 in flight: three quarters of 200, not of 350.
	counted := 0
	inFlight := func(n int) func() int { return func() int { counted++; return n } }
	late := func(i int, at time.Duration, n int) {
		due := t0.Add(at)
		a.observe(admissionKey(i), due, due.Add(5*time.Second), inFlight(n))
	}
	late(0, 10*time.Second, 200)
	if got, want := a.current(), 150; got != want {
		t.Fatalf("after a late step with 200 in flight the limit is %d, want %d", got, want)
	}
	// Late steps while 190 are still in flight, above the limit of 150, leave it there.
	for i := 1; i < 20; i++ {
		late(i, 10*time.Second+time.Duration(i)*3*time.Second, 190)
	}
	if got, want := a.current(), 150; got != want {
		t.Fatalf("late steps with more in flight than the limit lowered it to %d, want it kept at %d", got, want)
	}
	// Once no more are in flight than the limit, a late step lowers it again.
	late(20, 2*time.Minute, 140)
	if got, want := a.current(), 105; got != want {
		t.Fatalf("after a late step with 140 in flight the limit is %d, want %d", got, want)
	}
	// On time again: by one per step up to 140, where the API server fell behind...
	rose := 0
	for i := 0; i < 35; i++ {
		due := t0.Add(3 * time.Minute)
		rose += a.observe(admissionKey(i), due, due, inFlight(1000))
	}
	if got := a.current(); got != 140 || rose != 35 {
		t.Fatalf("after 35 on-time steps the limit is %d (rose %d), want 140 (rose 35)", got, rose)
	}
	// ...and past it by one over the limit: 150 steps, by one.
	rose = 0
	for i := 0; i < 150; i++ {
		due := t0.Add(4 * time.Minute)
		rose += a.observe(admissionKey(i), due, due, inFlight(1000))
	}
	if got := a.current(); got != 141 || rose != 1 {
		t.Fatalf("after 150 on-time steps past the threshold the limit is %d (rose %d), want 141 (rose 1)", got, rose)
	}
	if counted != 21 {
		t.Errorf("the rollouts in flight were counted %d times, want 21 (only for late steps)", counted)
	}
	// Every rollout ended: the next change starts with slow start again, from the start limit
	// (no more than twice the rollouts in flight, as ever).
	for i := 0; i < 300; i++ {
		a.forget(admissionKey(i))
	}
	for i := 0; i < 100; i++ {
		due := t0.Add(time.Hour)
		a.observe(admissionKey(i), due, due, nil)
	}
	if got, want := a.current(), admissionStart+50; got != want {
		t.Fatalf("100 on-time steps of a new change after all ended: limit %d, want %d", got, want)
	}
}

func TestAdmissionCountsEachStepOnce(t *testing.T) {
	a := rolloutAdmission{target: time.Second}
	t0 := time.Unix(1_000_000, 0)
	key := admissionKey(0)
	a.observe(key, t0, t0.Add(3*time.Second), nil)
	low := a.current()
	// The same step seen again (the round after a cache wait, the end of gathering) much
	// later is not a new signal.
	if rose := a.observe(key, t0, t0.Add(time.Minute), nil); rose != 0 || a.current() != low {
		t.Fatalf("the same step counted twice: rose %d, limit %d, want %d", rose, a.current(), low)
	}
	// A step not yet due is not measured.
	if rose := a.observe(key, t0.Add(time.Hour), t0.Add(time.Minute), nil); rose != 0 || a.current() != low {
		t.Fatalf("a step before it was due was measured: limit %d, want %d", a.current(), low)
	}
	// The next step of the same Canary is.
	if a.observe(key, t0.Add(10*time.Second), t0.Add(15*time.Second), nil); a.current() >= low {
		t.Fatalf("the next step, 5 s late, left the limit at %d, want it below %d", a.current(), low)
	}
}

func TestAdmissionGrowsOnlyWhileItIsUsed(t *testing.T) {
	a := rolloutAdmission{target: time.Second}
	t0 := time.Unix(1_000_000, 0)
	// One rollout in flight stepping on time for hours does not raise the limit past where
	// it started: nothing showed the API server serves more.
	for i := 0; i < 1000; i++ {
		due := t0.Add(time.Duration(i) * 10 * time.Second)
		a.observe(admissionKey(0), due, due, nil)
	}
	if got := a.current(); got != admissionStart {
		t.Fatalf("one rollout on time raised the limit to %d, want it kept at %d", got, admissionStart)
	}
	// Many in flight on time raise it up to twice their number.
	for round := 0; round < 3; round++ {
		for i := 0; i < 150; i++ {
			due := t0.Add(time.Duration(round) * 10 * time.Second)
			a.observe(admissionKey(1000+i), due, due, nil)
		}
	}
	if got, want := a.current(), 2*151; got != want {
		t.Fatalf("151 rollouts in flight on time: limit %d, want %d", got, want)
	}
	// Ended rollouts no longer count.
	for i := 0; i < 150; i++ {
		a.forget(admissionKey(1000 + i))
	}
	a.observe(admissionKey(0), t0.Add(time.Hour), t0.Add(time.Hour), nil)
	if got := a.current(); got != admissionStart {
		t.Fatalf("after the fleet's rollouts ended the limit is %d, want %d", got, admissionStart)
	}
}

func TestRolloutLimitIsTheLowerOfTheFlagAndTheAdaptiveLimit(t *testing.T) {
	r := &CanaryReconciler{admission: rolloutAdmission{target: time.Second}}
	if limit, adaptive := r.rolloutLimit(); limit != admissionStart || !adaptive {
		t.Errorf("without --max-concurrent-canaries: %d, %v; want %d, true", limit, adaptive, admissionStart)
	}
	r.MaxConcurrentCanaries = 20
	if limit, adaptive := r.rolloutLimit(); limit != 20 || adaptive {
		t.Errorf("--max-concurrent-canaries 20 under the adaptive limit: %d, %v; want 20, false", limit, adaptive)
	}
	r.MaxConcurrentCanaries = 500
	if limit, adaptive := r.rolloutLimit(); limit != admissionStart || !adaptive {
		t.Errorf("--max-concurrent-canaries 500 over the adaptive limit: %d, %v; want %d, true", limit, adaptive, admissionStart)
	}
}

// TestMeasureStepReadsTheDueTimeFromTheCanary: the controller takes a step's due time from the
// Canary's last step and interval, counts a late one against the limit once, records it, and
// leaves Canaries at rest and steps not yet due alone.
func TestMeasureStepReadsTheDueTimeFromTheCanary(t *testing.T) {
	r, reg, now := stepReconciler(t)
	c := stepCanary(&siskinv1.CanaryAnalysis{Interval: "30s", StepWeight: 10, MaxWeight: ptr.To[int32](50), Threshold: 2})
	ctx := context.Background()
	key := client.ObjectKeyFromObject(c)
	// measure is a round that starts now and whose writes take writing.
	measure := func(writing time.Duration) { r.measureStep(ctx, key, r.dueStep(c), true, writing) }

	// At rest: nothing is measured.
	c.Status.Phase = siskinv1.PhaseSucceeded
	measure(0)
	if got := histogramSum(t, reg, "siskin_step_lateness_seconds"); got != 0 {
		t.Fatalf("a Canary at rest recorded %v s of lateness", got)
	}
	if got := r.admission.current(); got != admissionStart {
		t.Fatalf("a Canary at rest moved the limit to %d", got)
	}

	// In flight, the step due 30 s after the last one, which was 40 s ago: 10 s late.
	c.Status.Phase, c.Status.CanaryWeight = siskinv1.PhaseProgressing, 10
	last := metav1.NewTime(now.Add(-40 * time.Second))
	c.Status.LastStepTime = &last
	measure(0)
	if got, want := r.admission.current(), admissionStart*3/4; got != want {
		t.Errorf("after a step 10 s late the limit is %d, want %d", got, want)
	}
	if got := histogramSum(t, reg, "siskin_step_lateness_seconds"); got != 10 {
		t.Errorf("recorded lateness %v s, want 10", got)
	}
	// Another round of the same step (gathering, a cache wait) does not count it again.
	measure(time.Second)
	if got := histogramSum(t, reg, "siskin_step_lateness_seconds"); got != 10 {
		t.Errorf("the same step was recorded twice: sum %v s, want 10", got)
	}

	// The next step, not due yet: not measured.
	last = metav1.NewTime(now.Add(-5 * time.Second))
	c.Status.LastStepTime = &last
	measure(0)
	if got := histogramSum(t, reg, "siskin_step_lateness_seconds"); got != 10 {
		t.Errorf("a step not due was recorded: sum %v s, want 10", got)
	}
}

// TestMeasureStepCountsTheRoundsWrites: a step whose round started on time but whose writes
// took the API server 3 s was served 3 s late, and lowers the limit. Measured when the round
// started, as before, it counted as on time.
func TestMeasureStepCountsTheRoundsWrites(t *testing.T) {
	r, _, now := stepReconciler(t)
	c := stepCanary(&siskinv1.CanaryAnalysis{Interval: "10s", StepWeight: 25, Threshold: 2})
	c.Status = siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: 25}
	// Due half a second ago: on time when the round starts.
	last := metav1.NewTime(now.Add(-10*time.Second - 500*time.Millisecond))
	c.Status.LastStepTime = &last
	step := r.dueStep(c)
	if step.due.IsZero() {
		t.Fatal("the step is not due")
	}
	r.measureStep(context.Background(), client.ObjectKeyFromObject(c), step, true, 3*time.Second)
	if got, want := r.admission.current(), admissionStart*3/4; got != want {
		t.Errorf("after a step whose writes took 3 s the limit is %d, want %d (lowered)", got, want)
	}
}

// TestMeasureStepWhenARoundTakesIt: a round that finds a step due but does not take it (the
// canary's pods not ready yet) does not count it as served; the round that takes it does,
// late by how late the first round started plus its own writes, and not by the time the step
// waited on the application between them.
func TestMeasureStepWhenARoundTakesIt(t *testing.T) {
	r, reg, now := stepReconciler(t)
	ctx := context.Background()
	// round runs a round at the current clock that ends with status next and writes that take
	// writing, as Reconcile measures it.
	round := func(c *siskinv1.Canary, next siskinv1.CanaryStatus, writing time.Duration) {
		step := r.dueStep(c)
		c.Status = next
		r.measureStep(ctx, client.ObjectKeyFromObject(c), step, r.stepTaken(c, step), writing)
	}
	at := func(d time.Duration) { r.Now = func() time.Time { return now.Add(d) } }
	progressing := func(weight int32, last time.Time) siskinv1.CanaryStatus {
		return siskinv1.CanaryStatus{Phase: siskinv1.PhaseProgressing, CanaryWeight: weight, LastStepTime: &metav1.Time{Time: last}}
	}

	// Due half a second before the first round, which waits for the canary's pods; they are
	// ready 20 s later, and that round takes the step with writes of 0.2 s.
	c := stepCanary(&siskinv1.CanaryAnalysis{Interval: "10s", StepWeight: 25, Threshold: 2})
	c.Status = progressing(0, now.Add(-10*time.Second-500*time.Millisecond))
	round(c, c.Status, 0)
	if got := r.admission.current(); got != admissionStart {
		t.Fatalf("a round that did not take the step moved the limit to %d, want %d", got, admissionStart)
	}
	if got := histogramSum(t, reg, "siskin_step_lateness_seconds"); got != 0 {
		t.Fatalf("a round that did not take the step recorded %v s of lateness", got)
	}
	at(20 * time.Second)
	round(c, c.Status, 0) // still waiting
	round(c, progressing(25, now.Add(20*time.Second)), 200*time.Millisecond)
	if got := r.admission.current(); got != admissionStart {
		t.Errorf("after the step was taken on time the limit is %d, want %d (not lowered: the limit rises above its start only with twice as many rollouts measured)", got, admissionStart)
	}
	if got := histogramSum(t, reg, "siskin_step_lateness_seconds"); math.Abs(got-0.7) > 1e-9 {
		t.Errorf("recorded lateness %v s, want 0.7 (0.5 s to the first round, 0.2 s of writes)", got)
	}

	// Another Canary: its first round started 3 s after the step was due; the step is taken
	// later, quickly. It was 3 s late, and the limit falls.
	d := stepCanary(&siskinv1.CanaryAnalysis{Interval: "10s", StepWeight: 25, Threshold: 2})
	d.Name = "other"
	d.Status = progressing(50, now.Add(7*time.Second))
	round(d, d.Status, 0)
	at(30 * time.Second)
	round(d, siskinv1.CanaryStatus{Phase: siskinv1.PhasePromoting, CanaryWeight: 100}, 100*time.Millisecond)
	if got, want := r.admission.current(), admissionStart*3/4; got != want {
		t.Errorf("after a step whose first round was 3 s late the limit is %d, want %d", got, want)
	}
}

// stepReconciler is a reconciler with adaptive admission (target 2 s), its metrics registry
// and a fixed clock.
func stepReconciler(t *testing.T) (*CanaryReconciler, *prometheus.Registry, time.Time) {
	t.Helper()
	reg := prometheus.NewRegistry()
	rec, err := observability.NewRecorder(reg)
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := testenv.Scheme()
	if err != nil {
		t.Fatal(err)
	}
	// No Canary in the cache: the limit falls from where it is, as when the cache cannot count.
	cache := fake.NewClientBuilder().WithScheme(scheme).WithIndex(&siskinv1.Canary{}, indexActive, activeIndex).Build()
	now := time.Unix(1_000_000, 0)
	return &CanaryReconciler{Client: cache, Metrics: rec, Now: func() time.Time { return now },
		admission: rolloutAdmission{target: 2 * time.Second}}, reg, now
}

func stepCanary(a *siskinv1.CanaryAnalysis) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: "apps", Name: "podinfo"},
		Spec:       siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Kind: "Deployment", Name: "podinfo"}, Analysis: a},
	}
}

func histogramSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f.GetMetric()[0].GetHistogram().GetSampleSum()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}
