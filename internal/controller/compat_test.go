package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// The Flagger corpus (test/compat, see its README) holds manifests written the way Flagger's
// documentation writes them, with only the apiVersion changed. These tests check that the API
// server takes every one of them without pruning a field, that Siskin's validation takes them
// (or refuses them with the message a "# expect:" line names), and that one manifest per
// strategy behaves as Flagger documents.

// corpusDoc is one YAML document of a corpus file.
type corpusDoc struct {
	file string
	// expect is the text of the document's "# expect:" line: Siskin refuses or warns about it
	// on purpose, with a message that contains it.
	expect string
	obj    *unstructured.Unstructured
}

func corpusDir() string { return filepath.Join(testenv.RepoRoot(), "test", "compat") }

// readCorpus reads every document of one corpus file.
func readCorpus(t *testing.T, path string) []corpusDoc {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var docs []corpusDoc
	for i, part := range strings.Split(string(raw), "\n---\n") {
		d := corpusDoc{file: fmt.Sprintf("%s#%d", filepath.Base(path), i+1)}
		for _, line := range strings.Split(part, "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "# expect:"); ok {
				d.expect = strings.TrimSpace(s)
			}
		}
		m := map[string]any{}
		if err := yaml.Unmarshal([]byte(part), &m); err != nil {
			t.Fatalf("%s: %v", d.file, err)
		}
		if len(m) == 0 {
			continue
		}
		d.obj = &unstructured.Unstructured{Object: m}
		if got := d.obj.GetAPIVersion(); got != siskinv1.GroupVersion.String() {
			t.Fatalf("%s: apiVersion %q; the corpus changes Flagger's only to %s", d.file, got, siskinv1.GroupVersion)
		}
		docs = append(docs, d)
	}
	if len(docs) == 0 {
		t.Fatalf("%s holds no manifest", path)
	}
	return docs
}

func corpusFiles(t *testing.T, pattern string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(corpusDir(), pattern))
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files %s in %s (%v)", pattern, corpusDir(), err)
	}
	sort.Strings(files)
	return files
}

func TestFlaggerCorpusIsAcceptedAndNothingIsPruned(t *testing.T) {
	t.Parallel()
	for _, path := range corpusFiles(t, "*.yaml") {
		t.Run(filepath.Base(path), func(t *testing.T) {
			t.Parallel()
			ns := newNamespace(t)
			for _, d := range readCorpus(t, path) {
				checkCorpusDoc(t, ns, d)
			}
		})
	}
}

// checkCorpusDoc creates one corpus document, reads it back, and validates a Canary as the
// controller would.
func checkCorpusDoc(t *testing.T, ns string, d corpusDoc) {
	t.Helper()
	ctx := context.Background()
	obj := d.obj.DeepCopy()
	obj.SetNamespace(ns)
	err := k8sClient.Create(ctx, obj)
	if err != nil {
		if d.expect != "" && strings.Contains(err.Error(), d.expect) {
			return
		}
		t.Errorf("%s: the API server refused %s %s: %v", d.file, obj.GetKind(), obj.GetName(), err)
		return
	}
	stored := &unstructured.Unstructured{}
	stored.SetGroupVersionKind(obj.GroupVersionKind())
	if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), stored); err != nil {
		t.Fatal(err)
	}
	for _, p := range missingFields("spec", d.obj.Object["spec"], stored.Object["spec"]) {
		t.Errorf("%s: %s %s: field %s was pruned or changed by the API server", d.file, obj.GetKind(), obj.GetName(), p)
	}
	if obj.GetKind() != "Canary" {
		if d.expect != "" {
			t.Errorf("%s: expected a refusal containing %q; the API server took it", d.file, d.expect)
		}
		return
	}
	c := &siskinv1.Canary{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(stored.Object, c); err != nil {
		t.Fatal(err)
	}
	verr := canary.Validate(&c.Spec, siskinv1.ProviderIstio)
	switch {
	case d.expect == "" && verr != nil:
		t.Errorf("%s: Siskin refuses the Canary: %v", d.file, verr)
	case d.expect != "" && verr == nil:
		t.Errorf("%s: expected a refusal containing %q; Siskin took it", d.file, d.expect)
	case d.expect != "" && !strings.Contains(verr.Error(), d.expect):
		t.Errorf("%s: refused with %q, want a message containing %q", d.file, verr, d.expect)
	}
}

// missingFields lists the paths under path that want sets and got lacks or holds another value
// of. got may hold more (defaults).
func missingFields(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			out = append(out, missingFields(path+"."+k, w[k], g[k])...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path}
		}
		var out []string
		for i := range w {
			out = append(out, missingFields(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return out
	default:
		if !sameScalar(want, got) {
			return []string{fmt.Sprintf("%s (sent %v, stored %v)", path, want, got)}
		}
		return nil
	}
}

// sameScalar compares YAML scalars, numbers by value whatever their Go type.
func sameScalar(a, b any) bool {
	if reflect.DeepEqual(a, b) {
		return true
	}
	fa, aok := number(a)
	fb, bok := number(b)
	return aok && bok && fa == fb
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case float64:
		return n, true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	}
	return 0, false
}

// fakePrometheus answers every instant query with a healthy value: the p99 latency in seconds
// (histogram_quantile), an error rate in percent ("100 - ..."), or else a success rate in
// percent. It records the queries it was sent.
func fakePrometheus(t *testing.T) (url string, queries func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		q := strings.TrimSpace(r.Form.Get("query"))
		mu.Lock()
		seen = append(seen, q)
		mu.Unlock()
		value := "99.9"
		switch {
		case strings.Contains(q, "histogram_quantile"):
			value = "0.1"
		case strings.HasPrefix(q, "100 -"):
			value = "0.1"
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[%d,"%s"]}]}}`,
			time.Now().Unix(), value)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), seen...)
	}
}

// corpusRollout is one corpus Canary made runnable on the test API server: its intervals are
// shortened to analysisInterval and its iterations to at most three, its webhooks and metric
// addresses point at local fakes, and its Gateway at the test's.
type corpusRollout struct {
	canary    *siskinv1.Canary
	templates []*siskinv1.MetricTemplate
}

func loadCorpusRollout(t *testing.T, path, ns, hookURL, promURL string) corpusRollout {
	t.Helper()
	var r corpusRollout
	for _, d := range readCorpus(t, path) {
		switch d.obj.GetKind() {
		case "Canary":
			c := &siskinv1.Canary{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.obj.Object, c); err != nil {
				t.Fatal(err)
			}
			c.Namespace = ns
			a := c.Spec.Analysis
			a.Interval = analysisInterval.String()
			a.Iterations = min(a.Iterations, 3)
			for i := range a.Webhooks {
				a.Webhooks[i].URL = hookURL
			}
			for i := range c.Spec.Service.GatewayRefs {
				c.Spec.Service.GatewayRefs[i] = siskinv1.ParentReference{Name: testGatewayName}
			}
			r.canary = c
		case "MetricTemplate":
			mt := &siskinv1.MetricTemplate{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructured(d.obj.Object, mt); err != nil {
				t.Fatal(err)
			}
			mt.Namespace = ns
			mt.Spec.Provider.Address = promURL
			r.templates = append(r.templates, mt)
		default:
			t.Fatalf("%s: a rollout file holds a Canary and its MetricTemplates, not a %s", d.file, d.obj.GetKind())
		}
	}
	if r.canary == nil {
		t.Fatalf("%s holds no Canary", path)
	}
	return r
}

// strategyRoute is what a router was told at one moment, read from the live VirtualService or
// HTTPRoute.
type strategyRoute struct {
	// weights of the default (unmatched) route.
	weights routeWeights
	// matched are the weights of the routes with request matches (A/B), if any.
	matched []routeWeights
	// mirror is the percentage of the default route's requests mirrored to the canary.
	mirror float64
	// cookie is the Set-Cookie value the canary's responses get, if any.
	cookie string
}

// atRest reports whether all traffic goes to the primary, matched or not, and none is mirrored.
func (s strategyRoute) atRest() bool {
	for _, m := range s.matched {
		if m.canary != 0 {
			return false
		}
	}
	return s.weights == allToPrimary && s.mirror == 0
}

func (s strategyRoute) String() string {
	out := s.weights.String()
	for _, m := range s.matched {
		out += " match:" + m.String()
	}
	if s.mirror > 0 {
		out += fmt.Sprintf(" mirror:%g%%", s.mirror)
	}
	if s.cookie != "" {
		out += " cookie:" + s.cookie
	}
	return out
}

func readVirtualService(ctx context.Context, ns string) (strategyRoute, bool) {
	vs := &networkingv1.VirtualService{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, vs); err != nil {
		return strategyRoute{}, false
	}
	var s strategyRoute
	for _, rt := range vs.Spec.Http {
		var w routeWeights
		for _, d := range rt.Route {
			switch d.GetDestination().GetHost() {
			case "podinfo-primary." + ns + ".svc.cluster.local":
				w.primary += d.Weight
			case "podinfo-canary." + ns + ".svc.cluster.local":
				w.canary += d.Weight
				resp := d.GetHeaders().GetResponse()
				for _, set := range []string{resp.GetAdd()["Set-Cookie"], resp.GetSet()["Set-Cookie"]} {
					if set != "" && s.cookie == "" {
						s.cookie = set
					}
				}
			}
		}
		switch {
		case rt.Name == "default":
			s.weights = w
			if rt.Mirror != nil && strings.HasPrefix(rt.Mirror.Host, "podinfo-canary") {
				s.mirror = 100
				if rt.MirrorPercentage != nil {
					s.mirror = rt.MirrorPercentage.Value
				}
			}
		case len(rt.Match) > 0:
			s.matched = append(s.matched, w)
		}
	}
	return s, true
}

func readHTTPRoute(ctx context.Context, ns string) (strategyRoute, bool) {
	rt := &gatewayv1.HTTPRoute{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, rt); err != nil || len(rt.Spec.Rules) == 0 {
		return strategyRoute{}, false
	}
	var s strategyRoute
	for i, rule := range rt.Spec.Rules {
		var w routeWeights
		for _, b := range rule.BackendRefs {
			switch b.Name {
			case "podinfo-primary":
				w.primary += ptr.Deref(b.Weight, 1)
			case "podinfo-canary":
				w.canary += ptr.Deref(b.Weight, 1)
			}
		}
		last := i == len(rt.Spec.Rules)-1
		hasMatch := false
		for _, m := range rule.Matches {
			hasMatch = hasMatch || len(m.Headers) > 0 || len(m.QueryParams) > 0
		}
		switch {
		case last:
			s.weights = w
		case hasMatch:
			s.matched = append(s.matched, w)
		}
	}
	return s, true
}

// recordStrategy polls the route until stop is called and returns each distinct state seen.
func recordStrategy(t *testing.T, ns string, read func(context.Context, string) (strategyRoute, bool)) (stop func() []strategyRoute) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	var seen []strategyRoute
	record := func(s strategyRoute) {
		mu.Lock()
		defer mu.Unlock()
		if len(seen) == 0 || seen[len(seen)-1].String() != s.String() {
			seen = append(seen, s)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if s, ok := read(ctx, ns); ok {
				record(s)
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	stop = func() []strategyRoute {
		once.Do(func() {
			cancel()
			<-done
			// The route as it is now: the recorder may have been cancelled between two of
			// its reads, after the caller saw the last state (a loaded machine widens that gap).
			if s, ok := read(context.Background(), ns); ok {
				record(s)
			}
		})
		mu.Lock()
		defer mu.Unlock()
		return append([]strategyRoute(nil), seen...)
	}
	t.Cleanup(func() { stop() })
	return stop
}

func describeStrategy(seen []strategyRoute) string {
	var b bytes.Buffer
	for i, s := range seen {
		if i > 0 {
			b.WriteString(" → ")
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// weightsSeen lists the default route's weights in the order they were seen, without repeats.
func weightsSeen(seen []strategyRoute) []routeWeights {
	var out []routeWeights
	for _, s := range seen {
		if len(out) == 0 || out[len(out)-1] != s.weights {
			out = append(out, s.weights)
		}
	}
	return out
}

// corpusStrategy says how to run one corpus rollout file and what Flagger documents for it.
type corpusStrategy struct {
	file     string
	provider string
	read     func(context.Context, string) (strategyRoute, bool)
	check    func(t *testing.T, seen []strategyRoute)
}

func TestFlaggerCorpusRollouts(t *testing.T) {
	t.Parallel()
	strategies := []corpusStrategy{
		{
			// Canary release: stepWeight 10 up to maxWeight 50, then promotion and all
			// traffic back on the primary.
			file: "istio-canary-rollout.yaml", provider: siskinv1.ProviderIstio, read: readVirtualService,
			check: func(t *testing.T, seen []strategyRoute) {
				want := []routeWeights{{100, 0}, {90, 10}, {80, 20}, {70, 30}, {60, 40}, {50, 50}, {100, 0}}
				if got := weightsSeen(seen); !reflect.DeepEqual(got, want) {
					t.Errorf("weights %v, Flagger's stepWeight 10 / maxWeight 50 schedule is %v\n%s", got, want, describeStrategy(seen))
				}
			},
		},
		{
			file: "gatewayapi-canary-rollout.yaml", provider: siskinv1.ProviderGatewayAPI, read: readHTTPRoute,
			check: func(t *testing.T, seen []strategyRoute) {
				want := []routeWeights{{100, 0}, {90, 10}, {80, 20}, {70, 30}, {60, 40}, {50, 50}, {100, 0}}
				if got := weightsSeen(seen); !reflect.DeepEqual(got, want) {
					t.Errorf("weights %v, Flagger's stepWeight 10 / maxWeight 50 schedule is %v\n%s", got, want, describeStrategy(seen))
				}
			},
		},
		{
			// A/B testing: during the iterations the matching requests all go to the canary,
			// the others all to the primary.
			file: "istio-ab-testing-rollout.yaml", provider: siskinv1.ProviderIstio, read: readVirtualService,
			check: checkABTesting,
		},
		{
			file: "gatewayapi-ab-testing-rollout.yaml", provider: siskinv1.ProviderGatewayAPI, read: readHTTPRoute,
			check: checkABTesting,
		},
		{
			// Blue/green with mirroring: the primary keeps all traffic while the canary gets a
			// copy of it.
			file: "istio-blue-green-mirroring-rollout.yaml", provider: siskinv1.ProviderIstio, read: readVirtualService,
			check: func(t *testing.T, seen []strategyRoute) {
				mirrored := false
				for _, s := range seen {
					if s.weights.canary > 0 && s.weights.canary < 100 {
						t.Errorf("blue/green split traffic %s; Flagger switches it whole\n%s", s.weights, describeStrategy(seen))
					}
					mirrored = mirrored || (s.mirror == 100 && s.weights == allToPrimary)
				}
				if !mirrored {
					t.Errorf("the canary never received a 100%% mirror of the primary's traffic\n%s", describeStrategy(seen))
				}
			},
		},
		{
			// Session affinity: the canary's responses set the documented cookie with its
			// maxAge while it takes traffic.
			file: "istio-session-affinity-rollout.yaml", provider: siskinv1.ProviderIstio, read: readVirtualService,
			check: func(t *testing.T, seen []strategyRoute) {
				want := []routeWeights{{100, 0}, {75, 25}, {50, 50}, {100, 0}}
				if got := weightsSeen(seen); !reflect.DeepEqual(got, want) {
					t.Errorf("weights %v, want %v\n%s", got, want, describeStrategy(seen))
				}
				for _, s := range seen {
					if s.weights.canary > 0 && (!strings.HasPrefix(s.cookie, "flagger-cookie=") || !strings.Contains(s.cookie, "Max-Age=21600")) {
						t.Errorf("at %s the canary's responses set cookie %q; want flagger-cookie=… with Max-Age=21600\n%s", s.weights, s.cookie, describeStrategy(seen))
						break
					}
				}
			},
		},
		{
			// Blue/green without a mesh: nothing routes by weight; the primary is updated after
			// the iterations.
			file: "kubernetes-blue-green-rollout.yaml", provider: siskinv1.ProviderKubernetes,
			read: func(context.Context, string) (strategyRoute, bool) { return strategyRoute{}, false },
		},
	}
	for _, s := range strategies {
		t.Run(s.file, func(t *testing.T) {
			t.Parallel()
			runCorpusRollout(t, s)
		})
	}
}

// checkABTesting: the default route stays on the primary, and while the canary is analysed
// every matching route sends everything to the canary, from the first iteration on.
func checkABTesting(t *testing.T, seen []strategyRoute) {
	t.Helper()
	matchedOnCanary := false
	for _, s := range seen {
		if s.weights != allToPrimary {
			t.Errorf("A/B testing moved unmatched traffic: %s\n%s", s.weights, describeStrategy(seen))
			break
		}
		for _, m := range s.matched {
			if m.canary != 0 && m.canary != 100 {
				t.Errorf("A/B testing split matched traffic %s; Flagger sends it all to the canary\n%s", m, describeStrategy(seen))
			}
			matchedOnCanary = matchedOnCanary || m == routeWeights{canary: 100}
		}
	}
	if !matchedOnCanary {
		t.Errorf("matching requests never all went to the canary\n%s", describeStrategy(seen))
	}
}

func runCorpusRollout(t *testing.T, s corpusStrategy) {
	ns := newNamespace(t)
	promURL, queries := fakePrometheus(t)
	hookURL, _, calls := hookServer(t)
	startController(t, ns, controllerOptions{provider: s.provider, metricsServer: promURL})
	runKubelet(t, ns)
	if s.provider == siskinv1.ProviderGatewayAPI {
		createGateway(t, ns)
		runGateway(t, ns, 100*time.Millisecond)
	}
	r := loadCorpusRollout(t, filepath.Join(corpusDir(), s.file), ns, hookURL, promURL)
	ctx := context.Background()
	for _, mt := range r.templates {
		if err := k8sClient.Create(ctx, mt); err != nil {
			t.Fatal(err)
		}
	}
	if ref := r.canary.Spec.AutoscalerRef; ref != nil {
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		hpa.Name, hpa.Namespace = ref.Name, ns
		hpa.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: r.canary.Spec.TargetRef.Name}
		hpa.Spec.MinReplicas, hpa.Spec.MaxReplicas = ptr.To[int32](1), 4
		if err := k8sClient.Create(ctx, hpa); err != nil {
			t.Fatal(err)
		}
	}
	setupRollout(t, ns, r.canary)
	stop := recordStrategy(t, ns, s.read)
	release(t, ns, "podinfo:6.1.0")
	got := waitForWithin(t, keyOf(r.canary), "the rollout ended", 12*analysisInterval, func(c *siskinv1.Canary) bool {
		return c.Status.Phase == siskinv1.PhaseSucceeded || c.Status.Phase == siskinv1.PhaseFailed
	})
	if got.Status.Phase != siskinv1.PhaseSucceeded {
		t.Fatalf("a healthy release ended %s: %s\nevents: %s", got.Status.Phase, conditions(got), canaryEvents(ns))
	}
	// The phase is written before the route converges to it: a route write that failed (a
	// conflict on a loaded API server) is asked for again by a later round, within an interval.
	for deadline := time.Now().Add(2*analysisInterval + 5*time.Second); s.check != nil && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if rt, ok := s.read(ctx, ns); ok && rt.atRest() {
			break
		}
	}
	seen := stop()
	if img := image(getDeployment(t, ns, "podinfo-primary")); img != "podinfo:6.1.0" {
		t.Errorf("primary runs %s after the promotion, want podinfo:6.1.0", img)
	}
	if calls.Load() == 0 && len(r.canary.Spec.Analysis.Webhooks) > 0 {
		t.Error("no webhook of the manifest was called")
	}
	if len(r.canary.Spec.Analysis.Metrics) > 0 && len(queries()) == 0 {
		t.Error("no metric of the manifest was queried")
	}
	if s.check != nil {
		s.check(t, seen)
	}
}
