// Package metricstest is the test kit of the metric backends. Contract runs a backend through
// the real metrics.Analyzer, a MetricTemplate of its type against a local stand-in of the
// vendor, in the situations every backend meets (a value, no data, a server error, a
// malformed answer, wrong or missing credentials, a template the rules refuse), and checks
// what the user sees: the verdict and its explanation. Server is the stand-in of an HTTP API:
// it answers with recorded answers of the vendor's documented shape and keeps the requests.
//
// A backend's own tests keep only what is its vendor's alone.
package metricstest

import (
	"context"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Situation is what the vendor's stand-in answers.
type Situation string

// The situations every backend meets.
const (
	// Value: the query's answer holds one value, Backend.Value.
	Value Situation = "value"
	// NoData: the query answers, but with no value (no series, or only nulls).
	NoData Situation = "no data"
	// ServerError: the vendor fails the request (a 5xx, or its API's failure).
	ServerError Situation = "server error"
	// Malformed: the answer is not of the vendor's shape.
	Malformed Situation = "malformed answer"
	// Slow: the stand-in holds the Value answer back longer than any query timeout.
	Slow Situation = "slow answer"
)

// SlowTimeout is the query timeout of the Slow case.
const SlowTimeout = 200 * time.Millisecond

// Names the contract gives its objects.
const (
	// MetricName is the name of the canary's metric and of its MetricTemplate.
	MetricName = "probe"
	// SecretName is the name of the template's Secret (provider.secretRef).
	SecretName = "vendor-credentials"
	// AtStand, as a Refusal's Address, stands for the address of the vendor's stand-in.
	AtStand = "@stand"
)

// Now is the time of the contract's analysis steps, unless Backend.Now says otherwise.
var Now = time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)

// Stand is a running stand-in of the vendor.
type Stand struct {
	// Address is the template's provider.address; empty for a backend that takes none.
	Address string
	// Queries returns the queries the stand-in received so far, as the vendor reads them.
	Queries func() []string
	// Header returns the headers of the last request received; nil for a stand-in that does
	// not see them.
	Header func() http.Header
}

// Backend is what the contract needs to know of one metric backend.
type Backend struct {
	// Type is the template's provider.type.
	Type string
	// Pool is the backend's NewPool, of whose clients Options are the options; each case has a
	// Pool of its own.
	Pool    func(metrics.BackendOptions) *metrics.Pool
	Options metrics.BackendOptions
	// Providers, when set, stands for Pool: for a backend whose clients are no Pool's.
	Providers func() metrics.Providers
	// TimesOut says that the clients bound a query by Options.QueryTimeout and say so: the Slow
	// case applies.
	TimesOut bool
	// Namespace of the Canary, its MetricTemplate and Secret; empty is "test".
	Namespace string
	// Now is the time of the steps; zero is metricstest.Now.
	Now time.Time
	// Provider holds the template's provider fields beyond Type, Address and SecretRef, which
	// the contract sets (Region, Headers, InsecureSkipVerify).
	Provider siskinv1.MetricTemplateProvider
	// Query is the template's query, and Variables the metric's templateVariables.
	Query     string
	Variables map[string]string
	// Rendered is Query as the vendor receives it, at the step time.
	Rendered string
	// Secret holds credentials the stand-in accepts; nil means the template has no secretRef.
	Secret map[string][]byte
	// Public are the keys of Secret that are no credential (a project, an account ID): a message
	// may show their values. No message may show the others' (of 8 characters or more).
	Public []string
	// MissingKey is a key of Secret without which the template is refused before any query;
	// empty for a backend without credentials.
	MissingKey string
	// WrongSecret holds credentials the stand-in refuses, and WrongSecretSays what the check's
	// message then says; WrongSecret nil for a backend without credentials.
	WrongSecret     map[string][]byte
	WrongSecretSays []string
	// Serve starts the vendor's stand-in answering as in the situation, checking the
	// credentials of Secret.
	Serve func(t *testing.T, s Situation) Stand
	// Value is the value of the Value situation's answer as a check result shows it ("0.42").
	Value string
	// ServerErrorSays and MalformedSays are what the check's message says in those situations;
	// that of a server error, of wrong credentials and of a slow answer also names the backend.
	ServerErrorSays []string
	MalformedSays   []string
	// Refusals are templates refused before any query: the address beside the secret rule,
	// where the backend's credentials may go, and what it needs.
	Refusals []Refusal
}

// Refusal is a template of the backend that the Analyzer refuses with Message before any query
// reaches the vendor.
type Refusal struct {
	Name string
	// Address is the template's provider.address; AtStand is the stand-in's.
	Address string
	// Secret is the template's Secret; nil means no secretRef.
	Secret  map[string][]byte
	Message string
}

// Contract runs the cases every metric backend passes through the Analyzer.
func Contract(t *testing.T, b Backend) {
	t.Helper()
	if b.Namespace == "" {
		b.Namespace = "test"
	}
	if b.Now.IsZero() {
		b.Now = Now
	}

	t.Run("a value is judged against the threshold and the explanation names both", func(t *testing.T) {
		v, err := strconv.ParseFloat(b.Value, 64)
		if err != nil {
			t.Fatalf("Backend.Value %q: %v", b.Value, err)
		}
		stand := b.Serve(t, Value)
		above := math.Floor(v) + 1
		r := b.check(t, stand.Address, b.Secret, metrics.ProviderConfig{}, step{max: &above})
		b.want(t, r, siskinv1.VerdictPass, fmt.Sprintf("%s %s not above max %s", MetricName, b.Value, formatFloat(above)))
		if r.Value != b.Value {
			t.Errorf("value %q, want %q", r.Value, b.Value)
		}
		r = b.check(t, stand.Address, b.Secret, metrics.ProviderConfig{}, step{min: &above})
		b.want(t, r, siskinv1.VerdictFail, fmt.Sprintf("%s %s below min %s", MetricName, b.Value, formatFloat(above)))
		if got := stand.Queries(); len(got) != 2 || got[0] != b.Rendered || got[1] != b.Rendered {
			t.Errorf("the vendor received the queries %q, want the rendered query once per check:\n%s", got, b.Rendered)
		}
		if stand.Header != nil {
			for k, vs := range b.Provider.Headers {
				if got := stand.Header().Values(k); !slices.Equal(got, vs) {
					t.Errorf("the template's header %s reached the vendor as %q, want %q", k, got, vs)
				}
			}
		}
	})

	t.Run("no data is judged as the Prometheus backend judges it", func(t *testing.T) {
		stand := b.Serve(t, NoData)
		for _, s := range []step{{}, {noTraffic: true}} {
			r := b.check(t, stand.Address, b.Secret, metrics.ProviderConfig{}, s)
			ref := b.reference(t, stand.Address, s)
			b.want(t, r, ref.Verdict, ref.Message)
			if r.Value != "" {
				t.Errorf("value %q, want none", r.Value)
			}
		}
		if n := len(stand.Queries()); n != 2 {
			t.Errorf("the vendor received %d queries, want 2", n)
		}
	})

	t.Run("a server error is an error naming the backend", func(t *testing.T) {
		stand := b.Serve(t, ServerError)
		r := b.check(t, stand.Address, b.Secret, metrics.ProviderConfig{}, step{})
		b.want(t, r, siskinv1.VerdictError, append([]string{MetricName + " query failed: "}, b.ServerErrorSays...)...)
		b.named(t, r)
	})

	t.Run("a malformed answer is an error, not no data", func(t *testing.T) {
		stand := b.Serve(t, Malformed)
		r := b.check(t, stand.Address, b.Secret, metrics.ProviderConfig{}, step{})
		b.want(t, r, siskinv1.VerdictError, append([]string{MetricName + " query failed: "}, b.MalformedSays...)...)
	})

	if b.TimesOut {
		t.Run("a slow answer is an error at the query timeout", func(t *testing.T) {
			stand := b.Serve(t, Slow)
			start := time.Now()
			opts := b.Options
			opts.QueryTimeout = SlowTimeout
			r := b.run(t, metrics.Backends{b.Type: b.Pool(opts)}, stand.Address, b.Secret, metrics.ProviderConfig{}, step{})
			if elapsed := time.Since(start); elapsed > 10*SlowTimeout {
				t.Errorf("the check took %s with a query timeout of %s", elapsed, SlowTimeout)
			}
			b.want(t, r, siskinv1.VerdictError, MetricName+" query failed: ", "no answer within", SlowTimeout.String())
			b.named(t, r)
		})
	}

	if b.WrongSecret != nil {
		t.Run("wrong credentials are an error that shows none", func(t *testing.T) {
			stand := b.Serve(t, Value)
			r := b.check(t, stand.Address, b.WrongSecret, metrics.ProviderConfig{}, step{})
			b.want(t, r, siskinv1.VerdictError, append([]string{MetricName + " query failed: "}, b.WrongSecretSays...)...)
			b.named(t, r)
		})
	}

	if b.MissingKey != "" {
		t.Run("a Secret without "+b.MissingKey+" is refused before any query", func(t *testing.T) {
			stand := b.Serve(t, Value)
			secret := maps.Clone(b.Secret)
			delete(secret, b.MissingKey)
			r := b.check(t, stand.Address, secret, metrics.ProviderConfig{}, step{})
			b.want(t, r, siskinv1.VerdictError,
				fmt.Sprintf("Secret %s lacks the key %s that the %s provider needs", SecretName, b.MissingKey, b.Type))
			if n := len(stand.Queries()); n != 0 {
				t.Errorf("the vendor received %d queries", n)
			}
		})
	}

	for _, ref := range b.Refusals {
		t.Run("refused: "+ref.Name, func(t *testing.T) {
			stand := b.Serve(t, Value)
			address := ref.Address
			if address == AtStand {
				address = stand.Address
			}
			// The controller's own metrics server and its credentials never stand in for the
			// template's.
			def := metrics.ProviderConfig{Address: stand.Address, BearerToken: "controller-token"}
			r := b.check(t, address, ref.Secret, def, step{})
			b.want(t, r, siskinv1.VerdictError, ref.Message)
			if n := len(stand.Queries()); n != 0 {
				t.Errorf("the vendor received %d queries", n)
			}
		})
	}
}

// Check runs one analysis step of a canary whose only metric is b's template, with b's Secret,
// provider.address address and no threshold, and returns its result: for a backend's own
// cases.
func Check(t *testing.T, b Backend, address string) siskinv1.CheckResult {
	t.Helper()
	if b.Namespace == "" {
		b.Namespace = "test"
	}
	if b.Now.IsZero() {
		b.Now = Now
	}
	return b.check(t, address, b.Secret, metrics.ProviderConfig{}, step{})
}

// step is how a case's analysis step differs.
type step struct {
	min, max  *float64
	noTraffic bool
}

// check runs one analysis step of a canary whose only metric is the backend's template, and
// returns its result.
func (b Backend) check(t *testing.T, address string, secret map[string][]byte, def metrics.ProviderConfig, s step) siskinv1.CheckResult {
	t.Helper()
	var providers metrics.Providers
	if b.Providers != nil {
		providers = b.Providers()
	} else {
		providers = metrics.Backends{b.Type: b.Pool(b.Options)}
	}
	return b.run(t, providers, address, secret, def, s)
}

// Answer is a vendor's recorded answer and what a check makes of it: the verdict, the value
// and what its message says.
type Answer struct {
	Name    string
	Reply   Reply
	Verdict siskinv1.CheckVerdict
	Value   string
	Says    []string
}

// Answers runs each answer, a backend's own, through the Analyzer: from a Server of the
// recorded answers in dir, at provider.address the Server's URL and path.
func Answers(t *testing.T, b Backend, dir, path string, answers []Answer) {
	t.Helper()
	for _, a := range answers {
		t.Run(a.Name, func(t *testing.T) {
			srv := NewServer(t, dir).Reply(a.Reply)
			r := Check(t, b, srv.URL+path)
			b.want(t, r, a.Verdict, a.Says...)
			if r.Value != a.Value {
				t.Errorf("value %q, want %q", r.Value, a.Value)
			}
		})
	}
}

// reference is check with a provider that answers as the Prometheus backend does to an empty
// vector.
func (b Backend) reference(t *testing.T, address string, s step) siskinv1.CheckResult {
	t.Helper()
	return b.run(t, metrics.Backends{b.Type: emptyVector{}}, address, b.Secret, metrics.ProviderConfig{}, s)
}

func (b Backend) run(t *testing.T, providers metrics.Providers, address string, secret map[string][]byte, def metrics.ProviderConfig, s step) siskinv1.CheckResult {
	t.Helper()
	provider := b.Provider
	provider.Type, provider.Address = b.Type, address
	if secret != nil {
		provider.SecretRef = &siskinv1.LocalObjectReference{Name: SecretName}
	}
	tmpl := &siskinv1.MetricTemplate{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: MetricName},
		Spec:       siskinv1.MetricTemplateSpec{Provider: provider, Query: b.Query},
	}
	a := metrics.NewAnalyzer(metrics.AnalyzerOptions{
		Providers: providers,
		Templates: templateReader{b.Namespace + "/" + MetricName: tmpl},
		Secrets:   SecretReader{b.Namespace + "/" + SecretName: secret},
		Default:   def,
	})
	c := &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.Namespace, Name: "podinfo"},
		Spec: siskinv1.CanarySpec{TargetRef: siskinv1.TargetReference{Name: "podinfo"}, Analysis: &siskinv1.CanaryAnalysis{
			Metrics: []siskinv1.CanaryMetric{{Name: MetricName, Interval: "1m",
				TemplateRef:       &siskinv1.CrossNamespaceObjectReference{Name: MetricName},
				TemplateVariables: b.Variables,
				ThresholdRange:    &siskinv1.CanaryThresholdRange{Min: s.min, Max: s.max}}},
		}},
	}
	results := a.Run(context.Background(), metrics.Step{Canary: c, Router: siskinv1.ProviderIstio, Now: b.Now, NoTraffic: s.noTraffic})
	if len(results) != 1 {
		t.Fatalf("%d results, want 1", len(results))
	}
	return results[0]
}

// want fails the test unless r has the verdict and its message says each of says, and shows
// no credential.
func (b Backend) want(t *testing.T, r siskinv1.CheckResult, verdict siskinv1.CheckVerdict, says ...string) {
	t.Helper()
	if r.Verdict != verdict {
		t.Errorf("verdict %s, want %s: %s", r.Verdict, verdict, r.Message)
	}
	for _, s := range says {
		if !strings.Contains(r.Message, s) {
			t.Errorf("message %q does not say %q", r.Message, s)
		}
	}
	for _, secret := range []map[string][]byte{b.Secret, b.WrongSecret} {
		for k, v := range secret {
			if slices.Contains(b.Public, k) {
				continue
			}
			if v := strings.TrimSpace(string(v)); len(v) >= 8 && strings.Contains(r.Message, v) {
				t.Errorf("message shows the Secret's %s: %s", k, r.Message)
			}
		}
	}
}

// named fails the test unless r's message names the backend, so that a user with several
// backends knows which one failed.
func (b Backend) named(t *testing.T, r siskinv1.CheckResult) {
	t.Helper()
	if !strings.Contains(strings.ToLower(r.Message), b.Type) {
		t.Errorf("message %q does not name %s", r.Message, b.Type)
	}
}

// emptyVector answers every query as the Prometheus backend answers an empty vector.
type emptyVector struct{}

func (emptyVector) Provider(metrics.ProviderConfig) (metrics.Provider, error) {
	return emptyVector{}, nil
}

func (emptyVector) Query(context.Context, string) (metrics.Sample, error) {
	return metrics.Sample{}, fmt.Errorf("%w: empty vector", metrics.ErrNoData)
}

// templateReader is a metrics.TemplateReader of "namespace/name" to MetricTemplate.
type templateReader map[string]*siskinv1.MetricTemplate

func (m templateReader) MetricTemplate(_ context.Context, ns, name string) (*siskinv1.MetricTemplate, error) {
	return m[ns+"/"+name], nil
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }
