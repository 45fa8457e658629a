package canary

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

var update = flag.Bool("update", false, "rewrite the golden step logs in testdata")

// How long the fake workloads take to become ready after a change.
const (
	targetRollout  = 20 * time.Second
	primaryRollout = 30 * time.Second
	routerLag      = time.Second
)

// scenario is a whole rollout: a Canary, a script of changes made by people, and the verdicts
// of the metric at each analysis step.
type scenario struct {
	name   string
	canary func(c *siskinv1.Canary)
	// script are changes made from outside (new revisions, annotations), at offsets from start.
	script []scripted
	// verdicts of the request-success-rate metric by analysis step (1-based); default Pass.
	verdicts map[int]siskinv1.CheckVerdict
	// gate answers a gate poll; default: confirm gates open, rollback closed.
	gate func(w *world, t siskinv1.WebhookType) Gate
	// down is a window (offsets from start) during which the controller is not running; it
	// restarts at its end.
	down [2]time.Duration
	// every adds spurious reconciles at this period (restarts, resyncs, unrelated events).
	every time.Duration
	limit time.Duration
}

type scripted struct {
	at   time.Duration
	note string
	do   func(w *world)
}

func newRevision(at time.Duration, fp string) scripted {
	return scripted{at: at, note: "target updated to " + fp, do: func(w *world) {
		w.target.fp = fp
		if w.target.replicas > 0 {
			w.target.readyAt = w.now.Add(targetRollout)
			w.wakeAt(w.target.readyAt)
		}
	}}
}

func annotate(at time.Duration, ann, value string) scripted {
	return scripted{at: at, note: fmt.Sprintf("annotated %s=%s", ann, value), do: func(w *world) {
		if w.c.Annotations == nil {
			w.c.Annotations = map[string]string{}
		}
		w.c.Annotations[ann] = value
	}}
}

// fakeWorkload is a Deployment that becomes ready some time after a change.
type fakeWorkload struct {
	exists   bool
	fp       string
	replicas int32
	readyAt  time.Time
}

func (f *fakeWorkload) observe(now time.Time) Workload {
	o := Workload{Exists: f.exists, Fingerprint: f.fp, Replicas: f.replicas}
	o.Ready = f.exists && f.replicas > 0 && !now.Before(f.readyAt)
	if o.Ready {
		o.Available = f.replicas
	}
	if f.exists && !o.Ready {
		o.Message = "0/2 updated replicas available"
	}
	return o
}

// world is a fake cluster and controller loop. It executes each Decision's actions, keeps the
// status as the API server would (through JSON), advances a fake clock to the next reconcile
// (a requeue, a watch event, a scripted change) and feeds observations back.
type world struct {
	t       *testing.T
	sc      scenario
	start   time.Time
	now     time.Time
	c       *siskinv1.Canary
	target  fakeWorkload
	primary fakeWorkload
	route   Route
	wakeups []time.Time
	script  []scripted
	steps   []time.Time
	changes []string
	rounds  int
	quiet   int
	log     strings.Builder
}

func newWorld(t *testing.T, sc scenario) *world {
	start := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	c := newCanary()
	c.Spec.Analysis.Metrics[0].Interval = "1m"
	if sc.canary != nil {
		sc.canary(c)
	}
	w := &world{t: t, sc: sc, start: start, now: start, c: c,
		target: fakeWorkload{exists: true, fp: revOld, replicas: 2, readyAt: start},
		script: slices.Clone(sc.script)}
	for _, s := range w.script {
		w.wakeAt(start.Add(s.at))
	}
	if sc.every > 0 {
		for at := start.Add(sc.every); at.Before(start.Add(sc.limit)); at = at.Add(sc.every) {
			w.wakeAt(at)
		}
	}
	return w
}

func (w *world) wakeAt(t time.Time) { w.wakeups = append(w.wakeups, t) }

// run reconciles until nothing is scheduled or the limit is reached.
func (w *world) run() {
	limit := w.sc.limit
	if limit == 0 {
		limit = time.Hour
	}
	for w.rounds < 2000 {
		for len(w.script) > 0 && !w.start.Add(w.script[0].at).After(w.now) {
			s := w.script[0]
			w.script = w.script[1:]
			s.do(w)
			fmt.Fprintf(&w.log, "%s  -- %s\n", w.offset(), s.note)
		}
		w.reconcile()
		next, ok := w.next()
		if !ok || next.Sub(w.start) > limit {
			break
		}
		w.now = next
	}
	fmt.Fprintf(&w.log, "%s  end: %s, %d rounds (%d without effect), %d analysis steps\n",
		w.offset(), w.c.Status.Phase, w.rounds, w.quiet, len(w.steps))
}

// next is the time of the next reconcile; reconciles while the controller is down are lost,
// and it reconciles everything when it starts again.
func (w *world) next() (time.Time, bool) {
	slices.SortFunc(w.wakeups, func(a, b time.Time) int { return a.Compare(b) })
	from, to := w.start.Add(w.sc.down[0]), w.start.Add(w.sc.down[1])
	for len(w.wakeups) > 0 {
		t := w.wakeups[0]
		w.wakeups = w.wakeups[1:]
		if !t.After(w.now) {
			continue
		}
		if w.sc.down[1] > 0 && t.After(from) && t.Before(to) {
			w.wakeAt(to)
			slices.SortFunc(w.wakeups, func(a, b time.Time) int { return a.Compare(b) })
			continue
		}
		return t, true
	}
	return time.Time{}, false
}

func (w *world) observe() Observation {
	obs := Observation{
		Now:      w.now,
		Provider: w.c.Spec.Provider,
		Target:   w.target.observe(w.now),
		Primary:  w.primary.observe(w.now),
		Route:    w.route,
	}
	for k, v := range w.c.Annotations {
		if strings.HasPrefix(k, "siskin.dev/") {
			if obs.Manual == nil {
				obs.Manual = map[string]string{}
			}
			obs.Manual[k] = v
		}
	}
	return obs
}

// reconcile is one controller round: NeedsFor, gather, Plan, act, write status.
func (w *world) reconcile() {
	w.rounds++
	before := w.c.Status.DeepCopy()
	obs := w.observe()
	needs := NeedsFor(w.c, obs)
	gathered := w.gather(needs, &obs)
	d := Plan(w.c, obs)
	if again := Plan(w.c, obs); !reflect.DeepEqual(d, again) {
		w.t.Fatalf("%s: Plan is not deterministic", w.offset())
	}
	w.verify(obs, d)
	w.record(before, &d, gathered)
	w.apply(d.Actions)
	w.c.Status = roundTrip(w.t, d.Status)
	if d.RequeueAfter > 0 {
		w.wakeAt(w.now.Add(d.RequeueAfter))
	}
}

// gather answers the gates and runs the step NeedsFor asked for.
func (w *world) gather(needs Needs, obs *Observation) string {
	var parts []string
	if needs.Step {
		w.steps = append(w.steps, w.now)
		n := len(w.steps)
		v := w.sc.verdicts[n]
		if v == "" {
			v = siskinv1.VerdictPass
		}
		for _, h := range w.c.Spec.Analysis.Webhooks {
			if (h.Type == siskinv1.PreRolloutHook && needs.PreRollout) || h.Type == siskinv1.RolloutHook {
				obs.Checks = append(obs.Checks, hookCheck(h.Name, siskinv1.VerdictPass, w.now))
			}
		}
		obs.Checks = append(obs.Checks, metricCheck(v, w.now))
		var checks []string
		for _, c := range obs.Checks {
			checks = append(checks, c.Name+"="+string(c.Verdict))
		}
		parts = append(parts, fmt.Sprintf("step %d [%s]", n, strings.Join(checks, " ")))
	}
	if len(needs.Gates) > 0 {
		obs.Gates = map[siskinv1.WebhookType]Gate{}
		var gates []string
		for _, g := range needs.Gates {
			ans := Gate{Open: g != siskinv1.RollbackHook}
			if w.sc.gate != nil {
				ans = w.sc.gate(w, g)
			}
			obs.Gates[g] = ans
			state := "closed"
			if ans.Open {
				state = "open"
			}
			gates = append(gates, string(g)+"="+state)
		}
		parts = append(parts, "gates ["+strings.Join(gates, " ")+"]")
	}
	return strings.Join(parts, " | ")
}

// verify checks the invariants every decision must keep.
func (w *world) verify(obs Observation, d Decision) {
	t := w.t
	for i, a := range d.Actions {
		if a.Type != ScaleTargetDown {
			continue
		}
		want := DesiredRoute{PrimaryWeight: fullWeight}
		if !routeConfirmed(obs.Route, want) || slices.ContainsFunc(d.Actions[:i], func(b Action) bool { return b.Type == SetRoute && b.Route != want }) {
			t.Errorf("%s: canary scaled down before the router confirmed all traffic on the primary (route %+v)", w.offset(), obs.Route)
		}
	}
	if d.Status.Phase == siskinv1.PhaseSucceeded && w.c.Status.Phase != siskinv1.PhaseSucceeded &&
		(!obs.Primary.Ready || obs.Primary.Fingerprint != d.Status.LastPromotedSpec) {
		t.Errorf("%s: succeeded before the primary ran revision %s", w.offset(), d.Status.LastPromotedSpec)
	}
	if n := len(w.steps); n > 1 && w.steps[n-1].Equal(w.now) && w.now.Sub(w.steps[n-2]) < time.Minute {
		t.Errorf("%s: two analysis steps %s apart, less than the interval", w.offset(), w.now.Sub(w.steps[n-2]))
	}
	if d.RequeueAfter < 0 {
		t.Errorf("%s: negative requeueAfter %s", w.offset(), d.RequeueAfter)
	}
}

// apply executes the actions on the fake world, as the controller's executors would.
func (w *world) apply(actions []Action) {
	for _, a := range actions {
		switch a.Type {
		case EnsurePrimary:
			if !w.primary.exists {
				w.primary = fakeWorkload{exists: true, fp: w.target.fp, replicas: 2, readyAt: w.now.Add(primaryRollout)}
				w.wakeAt(w.primary.readyAt)
			}
		case EnsureServices, EnsureRoute:
			if EnsuresRoute(a, w.c.Spec.Provider) && !w.route.Converged {
				w.route = Route{Converged: true, PrimaryWeight: fullWeight}
				w.wakeAt(w.now.Add(routerLag))
			}
		case SetRoute:
			w.route = Route{Converged: true, PrimaryWeight: a.Route.PrimaryWeight, CanaryWeight: a.Route.CanaryWeight, Mirror: a.Route.Mirror}
			w.wakeAt(w.now.Add(routerLag))
		case ScaleTargetUp:
			if w.target.replicas == 0 {
				w.target.replicas, w.target.readyAt = 2, w.now.Add(targetRollout)
				w.wakeAt(w.target.readyAt)
			}
		case ScaleTargetDown:
			w.target.replicas = 0
		case Promote:
			if w.primary.fp != w.target.fp {
				w.primary.fp, w.primary.readyAt = w.target.fp, w.now.Add(primaryRollout)
				w.wakeAt(w.primary.readyAt)
			}
		}
	}
}

// record writes one line per round that did something, and the events it announced.
func (w *world) record(before *siskinv1.CanaryStatus, d *Decision, gathered string) {
	st := &d.Status
	if gathered == "" && len(d.Actions) == 0 && len(d.Events) == 0 && st.Phase == before.Phase && st.CanaryWeight == before.CanaryWeight {
		w.quiet++
		return
	}
	w.changes = append(w.changes, fmt.Sprintf("%s %d", st.Phase, st.CanaryWeight))
	parts := []string{fmt.Sprintf("%s  %-16s w=%-3d", w.offset(), st.Phase, st.CanaryWeight)}
	if gathered != "" {
		parts = append(parts, gathered)
	}
	if len(d.Actions) > 0 {
		parts = append(parts, "act "+formatActions(d.Actions))
	}
	if d.RequeueAfter > 0 {
		parts = append(parts, "next "+d.RequeueAfter.String())
	}
	fmt.Fprintln(&w.log, strings.TrimRight(strings.Join(parts, " | "), " "))
	for _, e := range d.Events {
		level := "info"
		if e.Warning {
			level = string(e.Severity)
		}
		fmt.Fprintf(&w.log, "%s  %-5s %s: %s\n", strings.Repeat(" ", 9), level, e.Reason, e.Message)
	}
}

func (w *world) offset() string {
	d := w.now.Sub(w.start)
	return fmt.Sprintf("+%02d:%02d:%02d", int(d.Hours()), int(d.Minutes())%60, int(d.Seconds())%60)
}

// roundTrip stores a status the way the API server does: as JSON.
func roundTrip(t *testing.T, st siskinv1.CanaryStatus) siskinv1.CanaryStatus {
	t.Helper()
	data, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	var out siskinv1.CanaryStatus
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func simulate(t *testing.T, sc scenario) *world {
	t.Helper()
	w := newWorld(t, sc)
	w.run()
	return w
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	wantBytes, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/canary/... -run %s -update to create it)", err, t.Name())
	}
	want := string(wantBytes)
	if got == want {
		return
	}
	g, wl := strings.Split(got, "\n"), strings.Split(want, "\n")
	for i := 0; i < max(len(g), len(wl)); i++ {
		var a, b string
		if i < len(g) {
			a = g[i]
		}
		if i < len(wl) {
			b = wl[i]
		}
		if a != b {
			t.Fatalf("%s differs from line %d:\n got: %s\nwant: %s\n(rerun with -update if the change is intended)", path, i+1, a, b)
		}
	}
}
