package keptn_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/keptn"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
)

var (
	env *testenv.Env
	cl  client.Client
	// op is the client of the fake metrics-operator, with a rate limit of its own.
	op client.Client
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	env, err = testenv.Start()
	if errors.Is(err, testenv.ErrNoAssets) {
		fmt.Fprintln(os.Stderr, "skipping the keptn tests:", err)
		return 0
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: []string{"testdata"}, ErrorIfPathMissing: true}); err != nil {
		fmt.Fprintln(os.Stderr, "install the Keptn CRDs:", err)
		return 1
	}
	if cl, err = client.New(env.Config, client.Options{Scheme: env.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	opConfig := rest.CopyConfig(env.Config)
	opConfig.QPS, opConfig.Burst = 200, 400
	if op, err = client.New(opConfig, client.Options{Scheme: env.Scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// namespace creates a namespace of its own for a test.
func namespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "keptn-"}}
	if err := cl.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// keptnMetric creates a KeptnMetric with the status given (nil: none).
func keptnMetric(t *testing.T, ns, name string, status map[string]any) {
	t.Helper()
	ctx := context.Background()
	u := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"provider": map[string]any{"name": "my-prometheus"}, "query": "sum(rate(http_requests_total[1m]))", "fetchIntervalSeconds": int64(10)},
	}}
	u.SetGroupVersionKind(keptn.KeptnMetricKind)
	u.SetNamespace(ns)
	u.SetName(name)
	if err := cl.Create(ctx, u); err != nil {
		t.Fatal(err)
	}
	if status == nil {
		return
	}
	u.Object["status"] = status
	if err := cl.Status().Update(ctx, u); err != nil {
		t.Fatal(err)
	}
}

// operator plays Keptn's metrics-operator for the Analyses of ns: it gives each new one the
// status complete returns (nil: it leaves it pending), and records the specs it saw.
func operator(t *testing.T, ns string, complete func(spec map[string]any) map[string]any) <-chan map[string]any {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	specs := make(chan map[string]any, 8)
	go func() {
		done := map[string]bool{}
		for ctx.Err() == nil {
			l := &unstructured.UnstructuredList{}
			l.SetGroupVersionKind(keptn.AnalysisKind.GroupVersion().WithKind("AnalysisList"))
			if err := op.List(ctx, l, client.InNamespace(ns)); err == nil {
				for i := range l.Items {
					a := &l.Items[i]
					if done[a.GetName()] {
						continue
					}
					done[a.GetName()] = true
					spec, _, _ := unstructured.NestedMap(a.Object, "spec")
					specs <- spec
					if st := complete(spec); st != nil {
						a.Object["status"] = st
						_ = op.Status().Update(ctx, a)
					}
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	return specs
}

// analyses returns the Analyses left in ns.
func analyses(t *testing.T, ns string) []unstructured.Unstructured {
	t.Helper()
	l := &unstructured.UnstructuredList{}
	l.SetGroupVersionKind(keptn.AnalysisKind.GroupVersion().WithKind("AnalysisList"))
	if err := cl.List(context.Background(), l, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	return l.Items
}

func provider(t *testing.T, c client.Client, ns string, opts keptn.Options) metrics.Provider {
	t.Helper()
	p, err := keptn.New(c, opts).Provider(metrics.ProviderConfig{Type: metrics.TypeKeptn, Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var fast = keptn.Options{AnalysisTimeout: 3 * time.Second, PollInterval: 50 * time.Millisecond}

func TestKeptnMetricValue(t *testing.T) {
	ns := namespace(t)
	keptnMetric(t, ns, "response-time", map[string]any{"value": "0.25", "lastUpdated": "2026-12-01T16:00:00Z"})
	s, err := provider(t, cl, ns, fast).Query(context.Background(), "KeptnMetric/"+ns+"/response-time/2m/reporter=flagger\n")
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != 0.25 || !s.Time.Equal(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("sample %+v, want 0.25 at 16:00", s)
	}
}

func TestMissingKeptnMetricIsAnError(t *testing.T) {
	ns := namespace(t)
	_, err := provider(t, cl, ns, fast).Query(context.Background(), "keptnmetric/"+ns+"/absent")
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), "not found") {
		t.Fatalf("err %v, want a not-found error", err)
	}
}

func TestAnalysisPassesAsOneAndIsDeleted(t *testing.T) {
	ns := namespace(t)
	specs := operator(t, ns, func(map[string]any) map[string]any {
		return map[string]any{"state": "Completed", "pass": true, "raw": "{}"}
	})
	s, err := provider(t, cl, ns, fast).Query(context.Background(), "analysis/"+ns+"/podinfo-slo/5m/workload=podinfo;Reporter=Siskin")
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != 1 {
		t.Errorf("value %v, want 1", s.Value)
	}
	spec := <-specs
	want := fmt.Sprintf("map[analysisDefinition:map[name:podinfo-slo namespace:%s] args:map[Reporter:Siskin workload:podinfo] timeframe:map[recent:5m]]", ns)
	if got := fmt.Sprint(spec); got != want {
		t.Errorf("spec %s, want %s", got, want)
	}
	if left := analyses(t, ns); len(left) != 0 {
		t.Errorf("%d Analyses left, want the provider to delete its own", len(left))
	}
}

func TestAnalysisFailsAsZero(t *testing.T) {
	ns := namespace(t)
	// Keptn omits pass when it is false.
	_ = operator(t, ns, func(map[string]any) map[string]any { return map[string]any{"state": "Completed", "warning": true} })
	s, err := provider(t, cl, ns, fast).Query(context.Background(), "analysis/"+ns+"/podinfo-slo")
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != 0 {
		t.Errorf("value %v, want 0", s.Value)
	}
}

func TestAnalysisTimeframeDefaultsToTheWindow(t *testing.T) {
	ns := namespace(t)
	specs := operator(t, ns, func(map[string]any) map[string]any { return map[string]any{"state": "Completed", "pass": true} })
	ctx := metrics.WithWindow(context.Background(), 2*time.Minute)
	if _, err := provider(t, cl, ns, fast).Query(ctx, "analysis/"+ns+"/podinfo-slo"); err != nil {
		t.Fatal(err)
	}
	spec := <-specs
	if got, _, _ := unstructured.NestedString(spec, "timeframe", "recent"); got != "2m0s" {
		t.Errorf("timeframe.recent %q, want 2m0s", got)
	}
}

func TestAnalysisThatNeverCompletesTimesOut(t *testing.T) {
	ns := namespace(t)
	_ = operator(t, ns, func(map[string]any) map[string]any { return map[string]any{"state": "Progressing"} })
	opts := keptn.Options{AnalysisTimeout: 500 * time.Millisecond, PollInterval: 50 * time.Millisecond}
	start := time.Now()
	_, err := provider(t, cl, ns, opts).Query(context.Background(), "analysis/"+ns+"/slow/1m")
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), `did not complete within 500ms (state "Progressing")`) {
		t.Fatalf("err %v, want a timeout naming the state", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("took %s, want the timeout to bound it", d)
	}
	if left := analyses(t, ns); len(left) != 0 {
		t.Errorf("%d Analyses left after the timeout, want none", len(left))
	}
}

func TestAnotherNamespaceIsRefused(t *testing.T) {
	ns, other := namespace(t), namespace(t)
	keptnMetric(t, other, "response-time", map[string]any{"value": "1"})
	_, err := provider(t, cl, ns, fast).Query(context.Background(), "keptnmetric/"+other+"/response-time")
	if err == nil || !strings.Contains(err.Error(), "--allow-cross-namespace-refs") {
		t.Fatalf("err %v, want a refusal naming --allow-cross-namespace-refs", err)
	}
	// With cross-namespace references allowed the provider has no namespace.
	if s, err := provider(t, cl, "", fast).Query(context.Background(), "keptnmetric/"+other+"/response-time"); err != nil || s.Value != 1 {
		t.Errorf("sample %+v err %v, want 1", s, err)
	}
}

func TestForbiddenIsAnError(t *testing.T) {
	ns := namespace(t)
	keptnMetric(t, ns, "response-time", map[string]any{"value": "1"})
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":nobody"}
	c, err := client.New(cfg, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	p := provider(t, c, ns, fast)
	_, err = p.Query(context.Background(), "keptnmetric/"+ns+"/response-time")
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), "forbidden") {
		t.Fatalf("err %v, want forbidden", err)
	}
}

func TestBadQueries(t *testing.T) {
	p := provider(t, cl, "", fast)
	for _, q := range []string{"", "keptnmetric/ns", "keptnmetric//name", "metric/ns/name", "analysis/ns/name/soon", "analysis/ns/name/1m/novalue"} {
		_, err := p.Query(context.Background(), q)
		if !errors.Is(err, keptn.ErrQuery) {
			t.Errorf("query %q: err %v, want ErrQuery", q, err)
		}
	}
}

// reads records the KeptnMetrics a client reads, as keptnmetric/NAMESPACE/NAME: the queries
// the API server, Keptn's stand-in, received.
type reads struct {
	mu   sync.Mutex
	keys []string
}

func (r *reads) client(c client.Client) client.Client {
	return interceptor.NewClient(c.(client.WithWatch), interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			if obj.GetObjectKind().GroupVersionKind() == keptn.KeptnMetricKind {
				r.mu.Lock()
				r.keys = append(r.keys, "keptnmetric/"+key.Namespace+"/"+key.Name)
				r.mu.Unlock()
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
}

func (r *reads) since() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.keys...)
}

func TestContract(t *testing.T) {
	ns := namespace(t)
	statuses := map[mt.Situation]map[string]any{
		mt.Value:       {"value": "0.31"},
		mt.NoData:      nil,
		mt.ServerError: {"errMsg": "client_error: 503 Service Unavailable"},
		mt.Malformed:   {"value": "fast"},
	}
	watched := &reads{}
	wc, err := client.NewWithWatch(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	mt.Contract(t, mt.Backend{
		Type:      metrics.TypeKeptn,
		Providers: func() metrics.Providers { return keptn.New(watched.client(wc), fast) },
		Namespace: ns,
		Query:     "keptnmetric/{{ namespace }}/{{ target }}-latency",
		Rendered:  "keptnmetric/" + ns + "/podinfo-latency",
		// The KeptnMetric of each situation, written afresh.
		Serve: func(t *testing.T, s mt.Situation) mt.Stand {
			old := &unstructured.Unstructured{}
			old.SetGroupVersionKind(keptn.KeptnMetricKind)
			old.SetNamespace(ns)
			old.SetName("podinfo-latency")
			if err := client.IgnoreNotFound(cl.Delete(context.Background(), old)); err != nil {
				t.Fatal(err)
			}
			keptnMetric(t, ns, "podinfo-latency", statuses[s])
			watched.mu.Lock()
			watched.keys = nil
			watched.mu.Unlock()
			return mt.Stand{Queries: watched.since}
		},
		Value:           "0.31",
		ServerErrorSays: []string{"KeptnMetric " + ns + "/podinfo-latency has no value: the metrics-operator says: client_error: 503 Service Unavailable"},
		MalformedSays:   []string{`status.value "fast" is not a number`},
		Refusals: []mt.Refusal{
			{Name: "a template with an address", Address: "https://keptn.example",
				Message: "the keptn provider takes no provider.address or secretRef"},
			{Name: "a template with a secretRef", Secret: map[string][]byte{"token": []byte("keptn-token-0123456789")},
				Message: "the keptn provider takes no provider.address or secretRef"},
		},
	})
}
