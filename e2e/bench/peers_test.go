package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
)

func TestParseControllers(t *testing.T) {
	got, err := parseControllers("argo, siskin,flagger")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"siskin", "flagger", "argo"}; !slices.Equal(got, want) {
		t.Errorf("parseControllers = %v, want %v (siskin first, then the peers in a fixed order)", got, want)
	}
	for _, bad := range []string{"siskin,linkerd", "siskin,siskin", ""} {
		if _, err := parseControllers(bad); err == nil {
			t.Errorf("parseControllers(%q) accepted it", bad)
		}
	}
}

func TestParseFlagsRefusesPeersOnAnotherProvider(t *testing.T) {
	for _, ctl := range []string{"siskin,flagger", "argo"} {
		if _, err := parseFlags([]string{"-controllers", ctl, "-provider", "kubernetes"}); err == nil {
			t.Errorf("-controllers %s with -provider kubernetes was accepted", ctl)
		}
	}
	if _, err := parseFlags([]string{"-controllers", "siskin", "-provider", "kubernetes"}); err != nil {
		t.Errorf("siskin alone on -provider kubernetes: %v", err)
	}
	c, err := parseFlags([]string{"-controllers", "siskin,argo"})
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(c.peersDir) || !strings.HasSuffix(c.peersDir, "bin/peers") {
		t.Errorf("peersDir = %q, want the absolute bin/peers", c.peersDir)
	}
}

func obj(t *testing.T, y string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := runtime.DecodeInto(unstructured.UnstructuredJSONScheme, []byte(y), u); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestObserveFlaggerLike(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   peerObs
	}{
		{`{"phase":"Initialized","lastAppliedSpec":"a","lastPromotedSpec":"a"}`, peerObs{state: stateRest, applied: "a", promoted: "a"}},
		{`{"phase":"Progressing","lastAppliedSpec":"b","lastPromotedSpec":"a","canaryWeight":25}`, peerObs{state: stateActive, applied: "b", promoted: "a", weight: 25}},
		{`{"phase":"Promoting","lastAppliedSpec":"b","lastPromotedSpec":"a","canaryWeight":100}`, peerObs{state: stateActive, applied: "b", promoted: "a", weight: 100}},
		{`{"phase":"Succeeded","lastAppliedSpec":"b","lastPromotedSpec":"b"}`, peerObs{state: stateRest, applied: "b", promoted: "b"}},
		{`{"phase":"Failed","lastAppliedSpec":"b","lastPromotedSpec":"a"}`, peerObs{state: stateFailed, applied: "b", promoted: "a"}},
		{`{"phase":"Initializing"}`, peerObs{state: stateNone}},
		{`{}`, peerObs{state: stateNone}},
	} {
		got := observeFlaggerLike(obj(t, `{"apiVersion":"flagger.app/v1beta1","kind":"Canary","metadata":{"name":"a"},"status":`+tc.status+`}`))
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.status, got, tc.want)
		}
	}
}

func TestObserveRollout(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   peerObs
	}{
		// A Rollout is Healthy before its first ReplicaSet is stable: not initialized yet.
		{`{"phase":"Healthy","currentPodHash":"h1"}`, peerObs{state: stateNone, applied: "h1"}},
		{`{"phase":"Healthy","currentPodHash":"h1","stableRS":"h1"}`, peerObs{state: stateRest, applied: "h1", promoted: "h1"}},
		{`{"phase":"Paused","currentPodHash":"h2","stableRS":"h1","canary":{"weights":{"canary":{"weight":50},"stable":{"weight":50}}}}`,
			peerObs{state: stateActive, applied: "h2", promoted: "h1", weight: 50}},
		{`{"phase":"Progressing","currentPodHash":"h2","stableRS":"h1"}`, peerObs{state: stateActive, applied: "h2", promoted: "h1"}},
		{`{"phase":"Degraded","currentPodHash":"h2","stableRS":"h1"}`, peerObs{state: stateFailed, applied: "h2", promoted: "h1"}},
	} {
		got := observeRollout(obj(t, `{"apiVersion":"argoproj.io/v1alpha1","kind":"Rollout","metadata":{"name":"a"},"status":`+tc.status+`}`))
		if got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.status, got, tc.want)
		}
	}
}

// pauses adds up the pauses of Rollout steps.
func pauses(t *testing.T, steps []any) (time.Duration, []int64) {
	t.Helper()
	var total time.Duration
	var weights []int64
	for _, s := range steps {
		m := s.(map[string]any)
		if p, ok := m["pause"]; ok {
			d, err := time.ParseDuration(p.(map[string]any)["duration"].(string))
			if err != nil {
				t.Fatal(err)
			}
			total += d
		}
		if w, ok := m["setWeight"]; ok {
			weights = append(weights, w.(int64))
		}
	}
	return total, weights
}

func TestArgoStepsFollowSiskinsSchedule(t *testing.T) {
	for _, sw := range []int32{25, 30, 100} {
		cfg := &config{provider: "istio", interval: 10 * time.Second, stepWeight: sw}
		total, weights := pauses(t, argoSteps(cfg))
		if total != cfg.idealRollout() {
			t.Errorf("stepWeight %d: pauses add up to %s, want Siskin's ideal rollout %s", sw, total, cfg.idealRollout())
		}
		var want []int64
		for w := int64(sw); ; w += int64(sw) {
			want = append(want, min(w, 100))
			if w >= 100 {
				break
			}
		}
		if !slices.Equal(weights, want) {
			t.Errorf("stepWeight %d: weights %v, want %v", sw, weights, want)
		}
	}
}

func TestArgoObjectsRouteTheRolloutsServices(t *testing.T) {
	cfg := &config{provider: "istio", interval: 10 * time.Second, stepWeight: 25}
	objs := argoObjects("ns", "app-0001", cfg)
	var kinds []string
	hosts := map[string]bool{}
	var ro *unstructured.Unstructured
	for _, o := range objs {
		u := o.(*unstructured.Unstructured)
		kinds = append(kinds, u.GetKind())
		if u.GetNamespace() != "ns" {
			t.Errorf("%s %s in namespace %q", u.GetKind(), u.GetName(), u.GetNamespace())
		}
		switch u.GetKind() {
		case "Service":
			hosts[u.GetName()] = true
		case "VirtualService":
			routes, _, _ := unstructured.NestedSlice(u.Object, "spec", "http")
			for _, d := range routes[0].(map[string]any)["route"].([]any) {
				h := d.(map[string]any)["destination"].(map[string]any)["host"].(string)
				if !hosts[h] {
					t.Errorf("the VirtualService routes to %s, which is no Service of the bench", h)
				}
			}
		case "Rollout":
			ro = u
		}
	}
	if want := []string{"Service", "Service", "VirtualService", "Rollout"}; !slices.Equal(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	ref, _, _ := unstructured.NestedStringMap(ro.Object, "spec", "workloadRef")
	if ref["kind"] != "Deployment" || ref["name"] != "app-0001" {
		t.Errorf("workloadRef %v, want the Deployment app-0001", ref)
	}
	for _, f := range []string{"stableService", "canaryService"} {
		s, _, _ := unstructured.NestedString(ro.Object, "spec", "strategy", "canary", f)
		if !hosts[s] {
			t.Errorf("%s %q is no Service of the bench", f, s)
		}
	}
}

func TestFlaggerCanaryHasSiskinsAnalysis(t *testing.T) {
	cfg := &config{provider: "istio", interval: 10 * time.Second, stepWeight: 25}
	s := canaryFor("ns", "app-0001", cfg)
	f := flaggerCanary("ns", "app-0001", cfg)
	get := func(fields ...string) any {
		v, _, err := unstructured.NestedFieldNoCopy(f.Object, fields...)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"spec", "provider"}, s.Spec.Provider},
		{[]string{"spec", "targetRef", "name"}, s.Spec.TargetRef.Name},
		{[]string{"spec", "targetRef", "kind"}, s.Spec.TargetRef.Kind},
		{[]string{"spec", "service", "port"}, int64(s.Spec.Service.Port)},
		{[]string{"spec", "analysis", "interval"}, s.Spec.Analysis.Interval},
		{[]string{"spec", "analysis", "threshold"}, int64(s.Spec.Analysis.Threshold)},
		{[]string{"spec", "analysis", "stepWeight"}, int64(s.Spec.Analysis.StepWeight)},
		{[]string{"spec", "analysis", "maxWeight"}, int64(*s.Spec.Analysis.MaxWeight)},
	} {
		if got := get(c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %v, want Siskin's %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	if f.GetAPIVersion() != "flagger.app/v1beta1" {
		t.Errorf("apiVersion %s", f.GetAPIVersion())
	}
}

// weighted is a weighted rollout of rev as the watch delivers it: weights 25..100 every gap,
// from start.
func weighted(rev, promoted string, start time.Time, gaps ...time.Duration) []peerObs {
	h := []peerObs{{at: start, state: stateActive, applied: rev, promoted: promoted}}
	at := start
	for i, g := range gaps {
		at = at.Add(g)
		h = append(h, peerObs{at: at, state: stateActive, applied: rev, promoted: promoted, weight: int64(25 * (i + 1))})
	}
	return append(h, peerObs{at: at.Add(10 * time.Second), state: stateRest, applied: rev, promoted: rev})
}

func TestWeightLateness(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	s := time.Second
	hist := map[string][]peerObs{
		// Three gaps between four weights: 10.5, 12 and 10 s.
		"a": weighted("r2", "r1", t0, 10*s, 10500*time.Millisecond, 12*s, 10*s),
		// Replaced after two weights by r3: the gap across revisions is no step.
		"b": append(weighted("r2", "r1", t0, 10*s, 11*s)[:3], weighted("r3", "r1", t0.Add(25*s), 10*s, 10*s)...),
	}
	got := latenessSeconds(weightLateness(hist, t0, t0.Add(time.Hour), 10*time.Second))
	slices.Sort(got)
	want := []float64{0, 0, 0.5, 1, 2}
	if !slices.Equal(got, want) {
		t.Errorf("lateness %v, want %v", got, want)
	}
	// Steps before t0 do not count.
	if got := latenessSeconds(weightLateness(hist, t0.Add(36*s), t0.Add(time.Hour), 10*time.Second)); !slices.Equal(got, []float64{0, 0}) {
		t.Errorf("lateness after 36 s: %v, want [0 0] (a's last gap and r3's)", got)
	}
}

// A peer's steps split into windows of the change, with its rollouts under way at each
// window's start, as Siskin's are.
func TestPeerLatenessOverTime(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	s := time.Second
	hist := map[string][]peerObs{
		// Late early: steps at 12, 25 (late 3 s), 35 and 45 s; at rest from 55 s.
		"a": weighted("r2", "r1", t0, 12*s, 13*s, 10*s, 10*s),
		// Starts at 40 s, on time: steps at 50, 60, 70 and 80 s; at rest from 90 s.
		"b": weighted("r2", "r1", t0.Add(40*s), 10*s, 10*s, 10*s, 10*s),
	}
	late := weightLateness(hist, t0, t0.Add(100*s), 10*s)
	got := windowsOf(late, t0, t0.Add(100*s), 30*s, peerInFlight(hist))
	if len(got) != 4 {
		t.Fatalf("windows = %d, want 4 of 30 s over 100 s: %+v", len(got), got)
	}
	if w := got[0]; w.InFlight != 1 || w.Lateness.N != 1 || w.Lateness.Max != 3 {
		t.Errorf("first window = %+v, want a under way and its late step (3 s)", w)
	}
	if w := got[1]; w.InFlight != 1 || w.Lateness.N != 2 || w.Lateness.Max != 0 {
		t.Errorf("second window = %+v, want a under way at 30 s and its two steps on time (35, 45 s; b's first weight at 50 s has no step before it)", w)
	}
	if w := got[2]; w.InFlight != 1 || w.Lateness.N != 3 {
		t.Errorf("third window = %+v, want b alone under way at 60 s and its steps at 60, 70 and 80 s", w)
	}
	var n int
	for _, w := range got {
		n += w.Lateness.N
	}
	if n != len(late) {
		t.Errorf("the windows hold %d steps, weightLateness counts %d", n, len(late))
	}
}

func TestPromotedAfter(t *testing.T) {
	before := map[string]peerObs{"a": {state: stateActive, applied: "r1", promoted: "r0"}}
	done := promotedAfter(before)
	for _, tc := range []struct {
		o    peerObs
		want bool
	}{
		{peerObs{state: stateRest, applied: "r2", promoted: "r2"}, true},
		// The revision acted on before the change, promoted late, is not the change's.
		{peerObs{state: stateRest, applied: "r1", promoted: "r1"}, false},
		{peerObs{state: stateActive, applied: "r2", promoted: "r0"}, false},
		{peerObs{state: stateFailed, applied: "r2", promoted: "r0"}, false},
	} {
		if got := done("a", tc.o); got != tc.want {
			t.Errorf("%+v: %v, want %v", tc.o, got, tc.want)
		}
	}
}

func TestAPIProxyCountsByVerbAndStreamsWatches(t *testing.T) {
	release := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.URL.Query().Get("watch") == "true":
			_, _ = io.WriteString(w, "{\"type\":\"ADDED\"}\n")
			w.(http.Flusher).Flush()
			<-release
		case r.URL.Path == "/missing":
			http.NotFound(w, r)
		default:
			_, _ = io.WriteString(w, r.Method)
		}
	}))
	defer backend.Close()
	defer close(release)
	target, _ := url.Parse(backend.URL)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	px, err := serveAPIProxy(ctx, target, http.DefaultTransport)
	if err != nil {
		t.Fatal(err)
	}
	do := func(method, path string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, method, px.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	a := px.snapshot()
	for _, m := range []string{http.MethodGet, http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		resp := do(m, "/api/v1/namespaces/x/pods")
		b, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(b) != m {
			t.Errorf("%s answered %q", m, b)
		}
	}
	_ = do(http.MethodGet, "/missing").Body.Close()
	// The first event of a watch arrives while the watch is still open.
	w := do(http.MethodGet, "/api/v1/pods?watch=true")
	line, err := bufio.NewReader(w.Body).ReadString('\n')
	if err != nil || !strings.Contains(line, "ADDED") {
		t.Errorf("watch event %q, %v", line, err)
	}
	_ = w.Body.Close()
	b := px.snapshot()
	got := b.since(a)
	want := map[string]float64{"GET": 3, "POST": 1, "PATCH": 1, "PUT": 1, "DELETE": 1, "WATCH": 1}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("counts %v, want %v", got, want)
	}
	if b.writes()-a.writes() != 4 || b.total()-a.total() != 8 {
		t.Errorf("writes %v, total %v; want 4 and 8", b.writes()-a.writes(), b.total()-a.total())
	}
	if b.failed-a.failed != 1 {
		t.Errorf("failed %v, want 1 (the 404)", b.failed-a.failed)
	}

	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("stale"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := px.writeKubeconfig(kc); err != nil {
		t.Fatal(err)
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != px.url || rc.BearerToken != "" || rc.CertFile != "" {
		t.Errorf("kubeconfig sends the controller to %q with credentials %q %q; want the proxy, none", rc.Host, rc.BearerToken, rc.CertFile)
	}
}

func TestPeerCellPrintsTheRatioToSiskin(t *testing.T) {
	row := peerRows[1] // at rest: API requests / canary / min
	sk := &PeerResult{Controller: ctlSiskin, N: 100, Rest: PeerRest{WindowSeconds: 60, RequestsPerCanaryPerMinute: 0.5}}
	fl := &PeerResult{Controller: ctlFlagger, N: 100, Rest: PeerRest{WindowSeconds: 60, RequestsPerCanaryPerMinute: 2}}
	none := &PeerResult{Controller: ctlArgo, N: 100}
	if got, want := peerCell(row, sk, sk), "0.500"; got != want {
		t.Errorf("siskin: %q, want %q", got, want)
	}
	if got, want := peerCell(row, fl, sk), "2.000 (4.00×)"; got != want {
		t.Errorf("flagger: %q, want %q", got, want)
	}
	if got := peerCell(row, none, sk); got != "-" {
		t.Errorf("a peer that did not get to rest: %q, want -", got)
	}
	zero := &PeerResult{Controller: ctlSiskin, N: 100, Rest: PeerRest{WindowSeconds: 60}}
	if got, want := peerCell(row, fl, zero), "2.000 (Siskin 0)"; got != want {
		t.Errorf("against Siskin's 0: %q, want %q", got, want)
	}
	if got, want := peerCell(row, fl, nil), "2.000"; got != want {
		t.Errorf("without Siskin in the run: %q, want %q", got, want)
	}
	// Lateness is signed: no ratio between figures of different signs.
	late := peerRows[12]
	sl := &PeerResult{Controller: ctlSiskin, Fleet: PeerFleet{LatenessSeconds: dist{N: 3, P50: 0.5}}}
	fe := &PeerResult{Controller: ctlFlagger, Fleet: PeerFleet{LatenessSeconds: dist{N: 3, P50: -1.5}}}
	if got, want := peerCell(late, fe, sl), "-1.50"; got != want {
		t.Errorf("negative lateness: %q, want %q", got, want)
	}
	if got, want := peerCell(late, sl, fe), "0.50"; got != want {
		t.Errorf("siskin's own lateness: %q, want %q", got, want)
	}
	fe.Fleet.LatenessSeconds.P50 = 2
	if got, want := peerCell(late, fe, sl), "2.00 (4.00×)"; got != want {
		t.Errorf("lateness of the same sign: %q, want %q", got, want)
	}
}

func TestPrintComparisonNamesHowFarEachGot(t *testing.T) {
	rep := &Comparison{Settings: Settings{StepWeight: 25, IntervalSeconds: 10, IdealRolloutSeconds: 50}, Results: []PeerResult{
		{Controller: ctlSiskin, Version: "v1", N: 100, Stage: "done", Fleet: PeerFleet{Canaries: 100, Promoted: 100, DurationSeconds: 60, RatioToIdeal: 1.2}},
		{Controller: ctlArgo, Version: "v1.10.2", N: 100, Stage: "fleet-wide change", Fleet: PeerFleet{Canaries: 100, Promoted: 40, DurationSeconds: 120, RatioToIdeal: 2.4},
			Notes: []string{"the fleet-wide change did not finish within the budget: 40/100 promoted"}},
	}}
	var sb strings.Builder
	printComparison(&sb, rep)
	out := sb.String()
	for _, want := range []string{"argo v1.10.2 N=100", "120.0 (2.00×)", "40/100", "fleet-wide change", "argo N=100: the fleet-wide change did not finish"} {
		if !strings.Contains(out, want) {
			t.Errorf("comparison lacks %q:\n%s", want, out)
		}
	}
}
