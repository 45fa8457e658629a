package stackdriver_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"cloud.google.com/go/monitoring/apiv3/v2/monitoringpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/metrics"
	mt "github.com/siskin-dev/siskin/pkg/metrics/metricstest"
	"github.com/siskin-dev/siskin/pkg/metrics/stackdriver"
)

const (
	project     = "shop-prod"
	accessToken = "ya29.fake-access-token-0123456789"
)

// tokenEndpoint is a loopback OAuth token endpoint that accepts JWT bearer assertions signed
// with key and answers accessToken.
type tokenEndpoint struct {
	key    *rsa.PublicKey
	refuse bool

	mu     sync.Mutex
	scopes []string
}

func (e *tokenEndpoint) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.Form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	scope, err := verify(r.Form.Get("assertion"), e.key)
	if e.refuse || err != nil {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"error":"invalid_grant","error_description":"Invalid JWT Signature."}`))
		return
	}
	e.mu.Lock()
	e.scopes = append(e.scopes, scope)
	e.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"access_token":"` + accessToken + `","token_type":"Bearer","expires_in":3600}`))
}

// verify checks the RS256 signature of a JWT and returns its scope claim.
func verify(jwt string, key *rsa.PublicKey) (string, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(key, crypto.SHA256, sum[:], sig); err != nil {
		return "", err
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", err
	}
	var claims struct{ Scope string }
	err = json.Unmarshal(payload, &claims)
	return claims.Scope, err
}

// fakeMonitoring is a loopback QueryService: it answers each MQL query with the response
// registered for it, after checking the access token and the project.
type fakeMonitoring struct {
	monitoringpb.UnimplementedQueryServiceServer
	answers map[string]*monitoringpb.QueryTimeSeriesResponse
	delay   time.Duration
	// fail, when set, is the answer to every query.
	fail error

	mu      sync.Mutex
	headers []metadata.MD
	queries []string
}

// answer makes the fake answer every query with resp, or with fail when set, after delay; and
// forgets the queries received.
func (f *fakeMonitoring) answer(query string, resp *monitoringpb.QueryTimeSeriesResponse, fail error, delay time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.answers = map[string]*monitoringpb.QueryTimeSeriesResponse{query: resp}
	f.fail, f.delay, f.queries = fail, delay, nil
}

// received returns the queries received since answer.
func (f *fakeMonitoring) received() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

func (f *fakeMonitoring) QueryTimeSeries(ctx context.Context, req *monitoringpb.QueryTimeSeriesRequest) (*monitoringpb.QueryTimeSeriesResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	f.mu.Lock()
	f.headers = append(f.headers, md)
	f.queries = append(f.queries, req.GetQuery())
	answers, delay, fail := f.answers, f.delay, f.fail
	f.mu.Unlock()
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer "+accessToken {
		return nil, status.Error(codes.Unauthenticated, "Request had invalid authentication credentials.")
	}
	if req.GetName() != "projects/"+project {
		return nil, status.Errorf(codes.PermissionDenied, "Permission monitoring.timeSeries.list denied (or the resource may not exist): %s", req.GetName())
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if req.GetQuery() == "" {
		return nil, status.Error(codes.InvalidArgument, "Query is empty.")
	}
	if fail != nil {
		return nil, fail
	}
	resp, ok := answers[req.GetQuery()]
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "Line 1, column 1: Expected table operation, found %q.", req.GetQuery())
	}
	return resp, nil
}

// world is a token endpoint, a Cloud Monitoring on loopback TLS and a service account key.
type world struct {
	address string
	key     []byte
	// wrongKey is a service account key the token endpoint refuses: another key's signature.
	wrongKey []byte
	tokens   *tokenEndpoint
	fake     *fakeMonitoring
}

func start(t *testing.T, answers map[string]*monitoringpb.QueryTimeSeriesResponse) *world {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tokens := &tokenEndpoint{key: &rsaKey.PublicKey}
	tokenSrv := httptest.NewServer(tokens)
	t.Cleanup(tokenSrv.Close)
	serviceAccountKey := func(k *rsa.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		key, err := json.Marshal(map[string]string{
			"type":           "service_account",
			"project_id":     project,
			"private_key_id": "k1",
			"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
			"client_email":   "siskin@" + project + ".iam.gserviceaccount.com",
			"token_uri":      tokenSrv.URL + "/token",
		})
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	otherKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}

	fake := &fakeMonitoring{answers: answers}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{selfSigned(t)}, MinVersion: tls.VersionTLS12})))
	monitoringpb.RegisterQueryServiceServer(srv, fake)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return &world{address: "https://" + lis.Addr().String(), key: serviceAccountKey(rsaKey), wrongKey: serviceAccountKey(otherKey),
		tokens: tokens, fake: fake}
}

// selfSigned is a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "monitoring.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// series is a time series with one label value and points of the given values, newest last.
func series(label string, values ...float64) *monitoringpb.TimeSeriesData {
	ts := &monitoringpb.TimeSeriesData{LabelValues: []*monitoringpb.LabelValue{{Value: &monitoringpb.LabelValue_StringValue{StringValue: label}}}}
	end := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	// Cloud Monitoring lists the newest point first.
	for i := len(values) - 1; i >= 0; i-- {
		at := end.Add(-time.Duration(len(values)-1-i) * time.Minute)
		ts.PointData = append(ts.PointData, &monitoringpb.TimeSeriesData_PointData{
			Values:       []*monitoringpb.TypedValue{{Value: &monitoringpb.TypedValue_DoubleValue{DoubleValue: values[i]}}},
			TimeInterval: &monitoringpb.TimeInterval{StartTime: timestamppb.New(at.Add(-time.Minute)), EndTime: timestamppb.New(at)},
		})
	}
	return ts
}

func response(ts ...*monitoringpb.TimeSeriesData) *monitoringpb.QueryTimeSeriesResponse {
	return &monitoringpb.QueryTimeSeriesResponse{TimeSeriesData: ts}
}

func (w *world) client(t *testing.T, opts stackdriver.Options) *stackdriver.Client {
	t.Helper()
	c, err := stackdriver.New(metrics.ProviderConfig{
		Type: metrics.TypeStackdriver, Address: w.address, Project: project, ServiceAccountKey: string(w.key),
		InsecureSkipVerify: true, Headers: http.Header{"X-Team": {"checkout"}},
	}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

func TestValueIsTheNewestPoint(t *testing.T) {
	w := start(t, map[string]*monitoringpb.QueryTimeSeriesResponse{"fetch one": response(series("podinfo", 97, 98.5, 99.25))})
	s, err := w.client(t, stackdriver.Options{}).Query(context.Background(), "fetch one")
	if err != nil {
		t.Fatal(err)
	}
	if s.Value != 99.25 || !s.Time.Equal(time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)) {
		t.Errorf("sample %+v, want 99.25 at 16:00", s)
	}
	w.tokens.mu.Lock()
	defer w.tokens.mu.Unlock()
	if len(w.tokens.scopes) != 1 || w.tokens.scopes[0] != stackdriver.Scope {
		t.Errorf("token requests with scopes %q, want one with %s", w.tokens.scopes, stackdriver.Scope)
	}
	w.fake.mu.Lock()
	defer w.fake.mu.Unlock()
	if got := w.fake.headers[0].Get("x-team"); len(got) != 1 || got[0] != "checkout" {
		t.Errorf("x-team metadata %q, want the template's header", got)
	}
}

func TestNoData(t *testing.T) {
	w := start(t, map[string]*monitoringpb.QueryTimeSeriesResponse{
		"fetch none":  response(),
		"fetch empty": response(&monitoringpb.TimeSeriesData{}),
	})
	c := w.client(t, stackdriver.Options{})
	for _, q := range []string{"fetch none", "fetch empty"} {
		if _, err := c.Query(context.Background(), q); !errors.Is(err, metrics.ErrNoData) {
			t.Errorf("%s: err %v, want ErrNoData", q, err)
		}
	}
}

func TestSeveralSeriesAreAShapeError(t *testing.T) {
	w := start(t, map[string]*monitoringpb.QueryTimeSeriesResponse{"fetch two": response(series("a", 1), series("b", 2))})
	_, err := w.client(t, stackdriver.Options{}).Query(context.Background(), "fetch two")
	if !errors.Is(err, metrics.ErrResultShape) || !strings.Contains(err.Error(), "2 time series") || !strings.Contains(err.Error(), "{a}, {b}") {
		t.Errorf("err %v, want a shape error naming both series", err)
	}
}

func TestErrorAnswerKeepsGooglesMessage(t *testing.T) {
	w := start(t, nil)
	_, err := w.client(t, stackdriver.Options{}).Query(context.Background(), "fetch nonsense |")
	if err == nil || errors.Is(err, metrics.ErrNoData) || !strings.Contains(err.Error(), "InvalidArgument") || !strings.Contains(err.Error(), "Expected table operation") {
		t.Errorf("err %v, want InvalidArgument with Cloud Monitoring's message", err)
	}
}

func TestTimeout(t *testing.T) {
	w := start(t, map[string]*monitoringpb.QueryTimeSeriesResponse{"fetch slow": response(series("a", 1))})
	w.fake.delay = 5 * time.Second
	start := time.Now()
	_, err := w.client(t, stackdriver.Options{QueryTimeout: 300 * time.Millisecond}).Query(context.Background(), "fetch slow")
	if err == nil || !strings.Contains(err.Error(), "no answer within the query timeout of 300ms") {
		t.Errorf("err %v, want the query timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s, want the query timeout to bound it", d)
	}
}

func TestBadCredentials(t *testing.T) {
	w := start(t, map[string]*monitoringpb.QueryTimeSeriesResponse{"fetch one": response(series("a", 1))})
	w.tokens.refuse = true
	c := w.client(t, stackdriver.Options{})
	_, err := c.Query(context.Background(), "fetch one")
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("err %v, want the token endpoint's invalid_grant", err)
	}
	for _, leak := range []string{"PRIVATE KEY", accessToken} {
		if err != nil && strings.Contains(err.Error(), leak) {
			t.Errorf("error %q shows %s", err, leak)
		}
	}
	if _, err := stackdriver.New(metrics.ProviderConfig{Type: metrics.TypeStackdriver, Project: project, ServiceAccountKey: `{"type":"authorized_user"}`}, stackdriver.Options{}); err == nil {
		t.Error("a key that is not a service account's: nil error")
	}
}

func TestPlainHTTPAddressIsRefused(t *testing.T) {
	_, err := stackdriver.New(metrics.ProviderConfig{Type: metrics.TypeStackdriver, Address: "http://127.0.0.1:1", Project: project}, stackdriver.Options{})
	if err == nil || !strings.Contains(err.Error(), "https") {
		t.Errorf("err %v, want a refusal of http", err)
	}
}

const mql = `fetch k8s_container | metric 'istio.io/service/server/request_count' | filter resource.namespace_name == '{{ namespace }}' && metric.destination_workload_name == '{{ target }}' | within 10m | group_by [], sum(val())`

// TestContract runs the contract against one world, whose fake Cloud Monitoring each case
// gives the situation's answer.
func TestContract(t *testing.T) {
	w := start(t, nil)
	rendered := strings.NewReplacer("{{ namespace }}", "test", "{{ target }}", "podinfo").Replace(mql)
	text := &monitoringpb.TimeSeriesData{PointData: []*monitoringpb.TimeSeriesData_PointData{{
		Values: []*monitoringpb.TypedValue{{Value: &monitoringpb.TypedValue_StringValue{StringValue: "180"}}}}}}
	situations := map[mt.Situation]func(){
		mt.Value:  func() { w.fake.answer(rendered, response(series("", 120, 180)), nil, 0) },
		mt.NoData: func() { w.fake.answer(rendered, response(), nil, 0) },
		mt.ServerError: func() {
			w.fake.answer(rendered, nil, status.Error(codes.Unavailable, "The service is currently unavailable."), 0)
		},
		mt.Malformed: func() { w.fake.answer(rendered, response(text), nil, 0) },
		mt.Slow:      func() { w.fake.answer(rendered, response(series("", 120, 180)), nil, 5*time.Second) },
	}
	keys := func(key []byte) map[string][]byte {
		return map[string][]byte{"project": []byte(project + "\n"), "serviceAccountKey": key}
	}
	mt.Contract(t, mt.Backend{
		Type:     metrics.TypeStackdriver,
		Pool:     stackdriver.NewPool,
		TimesOut: true,
		Provider: siskinv1.MetricTemplateProvider{InsecureSkipVerify: true},
		Query:    mql,
		Rendered: rendered,
		Secret:   keys(w.key),
		Public:   []string{"project"},
		Serve: func(t *testing.T, s mt.Situation) mt.Stand {
			situations[s]()
			return mt.Stand{Address: w.address, Queries: w.fake.received}
		},
		Value:           "180.00",
		MissingKey:      "project",
		WrongSecret:     keys(w.wrongKey),
		WrongSecretSays: []string{"invalid_grant"},
		ServerErrorSays: []string{"stackdriver query", "Unavailable: The service is currently unavailable."},
		MalformedSays:   []string{"not a number"},
		Refusals: []mt.Refusal{
			{Name: "an address without serviceAccountKey", Address: mt.AtStand, Secret: map[string][]byte{"project": []byte(project)},
				Message: "a stackdriver provider.address needs the key serviceAccountKey in Secret " + mt.SecretName + "; the controller's own Google credentials only go to Google"},
			{Name: "a template without secretRef", Address: mt.AtStand,
				Message: "the stackdriver provider needs a secretRef to a Secret with the key project"},
		},
	})
}
