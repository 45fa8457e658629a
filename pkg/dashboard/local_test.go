package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// session logs in with the printed URL's token and returns the session cookie.
func session(t *testing.T, s *Server, ts *httptest.Server) *http.Cookie {
	t.Helper()
	res := do(t, ts, http.MethodGet, "/?token="+url.QueryEscape(s.Token()), nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("GET /?token=<run token>: %s, want 303", res.Status)
	}
	for _, c := range res.Cookies() {
		if c.Name == sessionCookie {
			if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode {
				t.Errorf("session cookie HttpOnly=%v SameSite=%v, want HttpOnly and Strict", c.HttpOnly, c.SameSite)
			}
			return c
		}
	}
	t.Fatal("no session cookie after the token login")
	return nil
}

func TestLocalModeAnswersOnlyTheRunToken(t *testing.T) {
	ns := newNamespace(t)
	if err := k8sClient.Create(context.Background(), rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)); err != nil {
		t.Fatal(err)
	}
	s, ts := serve(t, env.Config, Options{Namespace: ns})

	if res := do(t, ts, http.MethodGet, "/api/fleet", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("fleet without a session: %s, want 401", res.Status)
	}
	if res := do(t, ts, http.MethodGet, "/api/stream", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("stream without a session: %s, want 401", res.Status)
	}
	if res := do(t, ts, http.MethodGet, "/?token=not-the-token", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("page with a wrong token: %s, want 401", res.Status)
	}
	forged := &http.Cookie{Name: sessionCookie, Value: "guess"}
	if res := do(t, ts, http.MethodGet, "/api/fleet", nil, forged); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("fleet with a guessed session: %s, want 401", res.Status)
	}

	ck := session(t, s, ts)
	res := do(t, ts, http.MethodGet, "/api/fleet", nil, ck)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("fleet with the session: %s", res.Status)
	}
	var rows []Row
	if err := json.Unmarshal(res.Body, &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Name != "podinfo" || rows[0].Namespace != ns {
		t.Errorf("fleet = %+v, want the one Canary %s/podinfo", rows, ns)
	}
	if csp := res.Header.Get("Content-Security-Policy"); csp == "" {
		t.Error("no Content-Security-Policy header")
	}
}

func TestLocalModeRefusesAForeignHostHeader(t *testing.T) {
	ns := newNamespace(t)
	s, ts := serve(t, env.Config, Options{Namespace: ns})
	ck := session(t, s, ts)
	// A page of evil.example whose name now resolves to 127.0.0.1 sends its own name as Host.
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, ts.URL+"/api/fleet", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = "evil.example:80"
	req.AddCookie(ck)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	if res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("request with Host evil.example: %s, want 421", res.Status)
	}
}

func TestLocalActionNeedsTheDashboardsOriginAndCSRFToken(t *testing.T) {
	ns := newNamespace(t)
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	s, ts := serve(t, env.Config, Options{Namespace: ns})
	ck := session(t, s, ts)
	csrf := s.csrfToken(&caller{secret: s.Token()})
	path := "/api/canaries/" + ns + "/podinfo/abort"
	for _, tc := range []struct {
		name   string
		header http.Header
	}{
		{"no Origin", http.Header{csrfHeader: {csrf}}},
		{"another site's Origin", http.Header{"Origin": {"http://evil.example"}, csrfHeader: {csrf}}},
		{"no CSRF token", http.Header{"Origin": {ts.URL}}},
		{"a wrong CSRF token", http.Header{"Origin": {ts.URL}, csrfHeader: {"0000"}}},
	} {
		if res := do(t, ts, http.MethodPost, path, tc.header, ck); res.StatusCode != http.StatusForbidden {
			t.Errorf("abort with %s: %s, want 403", tc.name, res.Status)
		}
	}
	got := &siskinv1.Canary{}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	if v, ok := got.Annotations[siskinv1.AnnotationAbort]; ok {
		t.Fatalf("a refused request set %s=%s", siskinv1.AnnotationAbort, v)
	}

	res := do(t, ts, http.MethodPost, path, http.Header{"Origin": {ts.URL}, csrfHeader: {csrf}}, ck)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("abort from the dashboard's page: %s", res.Status)
	}
	var ar ActionResult
	if err := json.Unmarshal(res.Body, &ar); err != nil {
		t.Fatal(err)
	}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	if ar.Annotation != siskinv1.AnnotationAbort || got.Annotations[siskinv1.AnnotationAbort] != ar.Value {
		t.Errorf("answer %+v, annotations %v: want %s set to the answered value", ar, got.Annotations, siskinv1.AnnotationAbort)
	}
	if _, err := time.Parse(time.RFC3339Nano, ar.Value); err != nil {
		t.Errorf("annotation value %q is not a timestamp: %v", ar.Value, err)
	}
	// Next step: a promote request for one step only.
	res = do(t, ts, http.MethodPost, "/api/canaries/"+ns+"/podinfo/step", http.Header{"Origin": {ts.URL}, csrfHeader: {csrf}}, ck)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("next step: %s", res.Status)
	}
	if err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(c), got); err != nil {
		t.Fatal(err)
	}
	if v := got.Annotations[siskinv1.AnnotationPromote]; !strings.HasPrefix(v, canary.PromoteStepPrefix) {
		t.Errorf("next step set %s=%q, want a value starting with %q", siskinv1.AnnotationPromote, v, canary.PromoteStepPrefix)
	}
	if res := do(t, ts, http.MethodPost, "/api/canaries/"+ns+"/podinfo/delete", http.Header{"Origin": {ts.URL}, csrfHeader: {csrf}}, ck); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown action: %s, want 404", res.Status)
	}
}

// asUser is the test API server's configuration with a bearer token instead of the admin's
// certificate: a kubeconfig of that user.
func asUser(token string) *rest.Config {
	cfg := rest.AnonymousClientConfig(env.Config)
	cfg.BearerToken = token
	return cfg
}

func TestLocalModeSeesAndDoesWhatTheKubeconfigsUserMay(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	stranger := serviceAccountTokenWithRules(t, ns, "stranger", nil)
	viewer := serviceAccountTokenWithRules(t, ns, "viewer", []rbacv1.PolicyRule{{
		APIGroups: []string{siskinv1.GroupVersion.Group}, Resources: []string{"canaries"}, Verbs: []string{"get", "list", "watch"},
	}})

	s, err := New(asUser(stranger), Options{Namespace: ns})
	if err != nil {
		t.Fatal(err)
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Start(sctx); err == nil || !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "list canaries in namespace "+ns) {
		t.Errorf("start as a user who may not list canaries: %v, want a Forbidden error naming the list", err)
	}

	s, ts := serve(t, asUser(viewer), Options{Namespace: ns})
	ck := session(t, s, ts)
	res := do(t, ts, http.MethodGet, "/api/canaries/"+ns+"/podinfo", nil, ck)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("the Canary page: %s %s", res.Status, res.Body)
	}
	d := &Detail{}
	if err := json.Unmarshal(res.Body, d); err != nil {
		t.Fatal(err)
	}
	if hidden := strings.Join(d.Hidden, "; "); !strings.Contains(hidden, "list events") {
		t.Errorf("the page does not say the Events are not shown (hidden: %q)", hidden)
	}
	csrf := s.csrfToken(&caller{secret: s.Token()})
	res = do(t, ts, http.MethodPost, "/api/canaries/"+ns+"/podinfo/abort", http.Header{"Origin": {ts.URL}, csrfHeader: {csrf}}, ck)
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("abort by a user without patch: %s %s, want 403 from the API server", res.Status, res.Body)
	}
	if got := getCanary(t, c); got.Annotations[siskinv1.AnnotationAbort] != "" {
		t.Errorf("a forbidden abort set %s", got.Annotations[siskinv1.AnnotationAbort])
	}
}

func TestRunPrintsAWorkingAddressAndStopsWithAnOpenStream(t *testing.T) {
	ns := newNamespace(t)
	if err := k8sClient.Create(context.Background(), rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &rollouttest.SyncBuffer{}
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env.Config, Options{Namespace: ns, Out: out}) }()

	var printed string
	deadline := time.Now().Add(30 * time.Second)
	for printed == "" {
		if _, rest, ok := strings.Cut(out.String(), "Siskin dashboard: "); ok {
			printed, _, _ = strings.Cut(rest, "\n")
			break
		}
		select {
		case err := <-done:
			t.Fatalf("Run returned before printing its address: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run printed no address within 30s: %q", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	u, err := url.Parse(printed)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Query().Get("token") == "" {
		t.Fatalf("printed address %q: want http://127.0.0.1:<port>/?token=<token> (%v)", printed, err)
	}

	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := &http.Client{Jar: jar}
	get := func(path string) *http.Response {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		if err != nil {
			t.Fatal(err)
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	page := get(printed)
	_ = page.Body.Close()
	if page.StatusCode != http.StatusOK || page.Request.URL.RawQuery != "" {
		t.Fatalf("the printed address led to %s at %s, want the page without the token in its address", page.Status, page.Request.URL)
	}
	stream := get("http://" + u.Host + "/api/stream")
	defer func() { _ = stream.Body.Close() }()
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("stream: %s", stream.Status)
	}
	line, err := bufio.NewReader(stream.Body).ReadString('\n')
	if err != nil || line != "event: fleet\n" {
		t.Fatalf("first line of the stream %q (%v), want the fleet event", line, err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after its context ended: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return within 20s of its context ending, with a stream open")
	}
}
