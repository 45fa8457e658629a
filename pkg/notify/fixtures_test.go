package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// The Dispatcher is a manager.Runnable that runs without leader election, and the controller's
// Notifier.
var (
	_ manager.Runnable               = (*Dispatcher)(nil)
	_ manager.LeaderElectionRunnable = (*Dispatcher)(nil)
	_ interface {
		Notify(context.Context, *siskinv1.Canary, canary.Event)
	} = (*Dispatcher)(nil)
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

const (
	testNS       = "test"
	testRevision = "7f9c2ba4e88f827d616045507605853e"
	// wait bounds every wait for a delivery; deliveries in these tests take milliseconds.
	wait = 5 * time.Second
)

// received is one request a receiver got.
type received struct {
	Path   string
	Header http.Header
	Body   []byte
}

// receiver is a local HTTP server playing a chat or webhook service. It records every request
// before answering it with respond (200 when respond is nil); n counts requests from 1.
type receiver struct {
	srv  *httptest.Server
	reqs chan received
	n    atomic.Int32
}

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rv := &receiver{reqs: make(chan received, 256)}
	rv.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n := int(rv.n.Add(1))
		rv.reqs <- received{Path: r.URL.Path, Header: r.Header.Clone(), Body: body}
		if respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		respond(n, w, r)
	}))
	t.Cleanup(rv.srv.Close)
	return rv
}

func (rv *receiver) url(path string) string { return rv.srv.URL + path }

// next waits for the next request.
func (rv *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-rv.reqs:
		return r
	case <-time.After(wait):
		t.Fatalf("no request to %s within %s", rv.srv.URL, wait)
		return received{}
	}
}

// quiet asserts that no request arrives within d.
func (rv *receiver) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-rv.reqs:
		t.Fatalf("unexpected request to %s: %s", r.Path, r.Body)
	case <-time.After(d):
	}
}

// slackAPI answers chat.postMessage like Slack's Web API, with ts 1700000000.00000n for the
// n-th message.
func slackAPI(n int, w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Path != "/api/chat.postMessage" {
		w.WriteHeader(http.StatusNotFound)
		return
	}
	_, _ = fmt.Fprintf(w, `{"ok":true,"channel":"C0ROLLOUTS","ts":"1700000000.%06d"}`, n)
}

func testScheme(t *testing.T) *runtime.Scheme {
	t.Helper()
	s := runtime.NewScheme()
	if err := siskinv1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func fakeReader(t *testing.T, objs ...client.Object) client.Reader {
	t.Helper()
	// The deduced type converter spares each test binary the parse of client-go's OpenAPI
	// models, which only server-side apply (unused here) needs.
	return fake.NewClientBuilder().WithScheme(testScheme(t)).
		WithTypeConverters(managedfields.NewDeducedTypeConverter()).WithObjects(objs...).Build()
}

func provider(name, typ, address string) *siskinv1.AlertProvider {
	return &siskinv1.AlertProvider{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: name},
		Spec:       siskinv1.AlertProviderSpec{Type: typ, Address: address, Channel: "rollouts", Username: "siskin"},
	}
}

// withSecret points p at a Secret and returns both.
func withSecret(p *siskinv1.AlertProvider, data map[string]string) (*siskinv1.AlertProvider, *corev1.Secret) {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: p.Namespace, Name: p.Name + "-secret"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	p.Spec.SecretRef = &siskinv1.LocalObjectReference{Name: s.Name}
	return p, s
}

func alert(name string, sev siskinv1.AlertSeverity, providerName string) siskinv1.CanaryAlert {
	return siskinv1.CanaryAlert{Name: name, Severity: sev, ProviderRef: siskinv1.CrossNamespaceObjectReference{Name: providerName}}
}

func testCanary(alerts ...siskinv1.CanaryAlert) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: testNS, Name: "podinfo"},
		Spec:       siskinv1.CanarySpec{Analysis: &siskinv1.CanaryAnalysis{Alerts: alerts}},
		Status: siskinv1.CanaryStatus{
			Phase:           siskinv1.PhaseProgressing,
			CanaryWeight:    20,
			FailedChecks:    1,
			LastAppliedSpec: testRevision,
		},
	}
}

// checkFailed is the event of a failed metric check, as the engine words it.
var checkFailed = canary.Event{
	Warning:  true,
	Reason:   siskinv1.ReasonAnalysisCheckFailed,
	Message:  "revision 7f9c2ba4e88f: metric request-duration value 612 above max 500; failed checks 1/2",
	Severity: siskinv1.SeverityWarn,
}

func event(reason string, sev siskinv1.AlertSeverity, msg string) canary.Event {
	return canary.Event{Reason: reason, Severity: sev, Message: msg, Warning: sev != siskinv1.SeverityInfo}
}

// failures records OnFailure calls.
type failures struct {
	mu    sync.Mutex
	calls []string
	ch    chan string
}

func newFailures() *failures { return &failures{ch: make(chan string, 64)} }

func (f *failures) record(namespace, name, providerType string) {
	s := namespace + "/" + name + " " + providerType
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	f.ch <- s
}

func (f *failures) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-f.ch:
		return s
	case <-time.After(wait):
		t.Fatal("OnFailure was not called")
		return ""
	}
}

func (f *failures) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// logBuffer collects everything logged, to check that no secret is.
type logBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *logBuffer) logger() logr.Logger {
	return funcr.New(func(prefix, args string) {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.buf.WriteString(prefix + " " + args + "\n")
	}, funcr.Options{Verbosity: 10})
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start builds a Dispatcher with fast retries and runs it until the test ends.
func start(t *testing.T, o Options) *Dispatcher {
	t.Helper()
	if o.Backoff == 0 {
		o.Backoff = 5 * time.Millisecond
	}
	if o.MaxBackoff == 0 {
		o.MaxBackoff = 20 * time.Millisecond
	}
	if o.Timeout == 0 {
		o.Timeout = wait
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	d, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Start: %v", err)
			}
		case <-time.After(wait):
			t.Error("Start did not return after its context was cancelled")
		}
	})
	return d
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// jsonGolden compares a JSON body, indented, with testdata/<name>.
func jsonGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, body, "", "  "); err != nil {
		t.Fatalf("%s: body is not JSON: %v: %s", name, err, body)
	}
	b.WriteByte('\n')
	golden(t, name, b.Bytes())
}

// formGolden compares a form-encoded body with testdata/<name>: one key a line, sorted, with
// the blocks JSON indented.
func formGolden(t *testing.T, name string, body []byte) {
	t.Helper()
	values, err := url.ParseQuery(string(body))
	if err != nil {
		t.Fatalf("%s: body is not a form: %v", name, err)
	}
	var b bytes.Buffer
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range values[k] {
			if k == "blocks" {
				var ind bytes.Buffer
				if err := json.Indent(&ind, []byte(v), "", "  "); err != nil {
					t.Fatalf("%s: blocks are not JSON: %v", name, err)
				}
				v = ind.String()
			}
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	golden(t, name, b.Bytes())
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -update rewrites it)\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}
