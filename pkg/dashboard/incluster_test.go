package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
)

// serviceAccountToken creates ServiceAccount name in ns with a Role granting verbs on
// canaries, and get and list on what a Canary page shows (none of it without verbs), and
// returns a token for it from the TokenRequest API.
func serviceAccountToken(t *testing.T, ns, name string, verbs ...string) string {
	t.Helper()
	var rules []rbacv1.PolicyRule
	if len(verbs) > 0 {
		rules = []rbacv1.PolicyRule{
			{APIGroups: []string{siskinv1.GroupVersion.Group}, Resources: []string{"canaries"}, Verbs: verbs},
			{APIGroups: []string{""}, Resources: []string{"events", "services"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get"}},
		}
	}
	return serviceAccountTokenWithRules(t, ns, name, rules)
}

// serviceAccountTokenWithRules creates ServiceAccount name in ns, bound to a Role with rules
// (none when empty), and returns a token for it from the TokenRequest API.
func serviceAccountTokenWithRules(t *testing.T, ns, name string, rules []rbacv1.PolicyRule) string {
	t.Helper()
	ctx := context.Background()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if err := k8sClient.Create(ctx, sa); err != nil {
		t.Fatal(err)
	}
	if len(rules) > 0 {
		role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Rules: rules}
		binding := &rbacv1.RoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: name},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: ns}},
		}
		for _, o := range []client.Object{role, binding} {
			if err := k8sClient.Create(ctx, o); err != nil {
				t.Fatal(err)
			}
		}
	}
	tr := &authenticationv1.TokenRequest{}
	if err := k8sClient.SubResource("token").Create(ctx, sa, tr); err != nil {
		t.Fatalf("token request for %s: %v", name, err)
	}
	return tr.Status.Token
}

func bearerHeader(token string) http.Header {
	return http.Header{"Authorization": {"Bearer " + token}}
}

func TestInClusterModeRefusesARequestWithoutAValidToken(t *testing.T) {
	ns := newNamespace(t)
	if err := k8sClient.Create(context.Background(), rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)); err != nil {
		t.Fatal(err)
	}
	_, ts := serve(t, env.Config, Options{Mode: ModeInCluster})
	for _, path := range []string{"/api/fleet", "/api/canaries/" + ns + "/podinfo", "/api/stream"} {
		if res := do(t, ts, http.MethodGet, path, nil); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a token: %s, want 401", path, res.Status)
		}
		if res := do(t, ts, http.MethodGet, path, bearerHeader("not-a-token")); res.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s with a made-up token: %s, want 401", path, res.Status)
		}
	}
	if res := do(t, ts, http.MethodPost, "/api/canaries/"+ns+"/podinfo/abort", nil); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("abort without a token: %s, want 401", res.Status)
	}
	res := do(t, ts, http.MethodGet, "/", nil)
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(res.Body), `action="/login"`) {
		t.Errorf("page without a token: %s, want 401 with the login form", res.Status)
	}
}

func TestInClusterModeAuthorisesEachReadAndActionAsTheCaller(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	if err := k8sClient.Create(ctx, c); err != nil {
		t.Fatal(err)
	}
	viewer := serviceAccountToken(t, ns, "viewer", "get", "list", "watch")
	operator := serviceAccountToken(t, ns, "operator", "get", "list", "watch", "patch")
	stranger := serviceAccountToken(t, ns, "stranger")
	// The dashboard's own identity may do everything; what the callers may do is theirs.
	_, ts := serve(t, env.Config, Options{Mode: ModeInCluster})
	abort := "/api/canaries/" + ns + "/podinfo/abort"

	fleetOf := func(token string) []Row {
		t.Helper()
		res := do(t, ts, http.MethodGet, "/api/fleet", bearerHeader(token))
		if res.StatusCode != http.StatusOK {
			t.Fatalf("fleet: %s %s", res.Status, res.Body)
		}
		var rows []Row
		if err := json.Unmarshal(res.Body, &rows); err != nil {
			t.Fatal(err)
		}
		var mine []Row
		for _, r := range rows {
			if r.Namespace == ns {
				mine = append(mine, r)
			}
		}
		return mine
	}
	if rows := fleetOf(viewer); len(rows) != 1 {
		t.Errorf("the viewer's fleet in %s = %+v, want the Canary", ns, rows)
	}
	if rows := fleetOf(stranger); len(rows) != 0 {
		t.Errorf("a caller without RBAC sees %+v, want nothing", rows)
	}
	if res := do(t, ts, http.MethodGet, "/api/canaries/"+ns+"/podinfo", bearerHeader(stranger)); res.StatusCode != http.StatusForbidden {
		t.Errorf("the Canary page for a caller without RBAC: %s, want 403", res.Status)
	}
	if res := do(t, ts, http.MethodGet, "/api/canaries/"+ns+"/podinfo", bearerHeader(viewer)); res.StatusCode != http.StatusOK {
		t.Errorf("the Canary page for the viewer: %s %s", res.Status, res.Body)
	}

	res := do(t, ts, http.MethodPost, abort, bearerHeader(viewer))
	if res.StatusCode != http.StatusForbidden || !strings.Contains(string(res.Body), "patch canaries.siskin.dev") {
		t.Errorf("abort by a caller without patch on canaries: %s %s, want 403 naming the permission", res.Status, res.Body)
	}
	if got := getCanary(t, c); got.Annotations[siskinv1.AnnotationAbort] != "" {
		t.Fatalf("a refused abort set %s", got.Annotations[siskinv1.AnnotationAbort])
	}

	res = do(t, ts, http.MethodPost, abort, bearerHeader(operator))
	if res.StatusCode != http.StatusOK {
		t.Fatalf("abort by a caller with patch on canaries: %s %s", res.Status, res.Body)
	}
	var ar ActionResult
	if err := json.Unmarshal(res.Body, &ar); err != nil {
		t.Fatal(err)
	}
	if got := getCanary(t, c); got.Annotations[siskinv1.AnnotationAbort] != ar.Value {
		t.Errorf("after the operator's abort the annotations are %v, want %s=%s", got.Annotations, siskinv1.AnnotationAbort, ar.Value)
	}
}

func TestInClusterLoginKeepsTheTokenInACookieAndActionsNeedTheCSRFToken(t *testing.T) {
	ns := newNamespace(t)
	c := rollouttest.Canary(ns, "podinfo", siskinv1.ProviderKubernetes)
	if err := k8sClient.Create(context.Background(), c); err != nil {
		t.Fatal(err)
	}
	operator := serviceAccountToken(t, ns, "operator", "get", "list", "watch", "patch")
	s, ts := serve(t, env.Config, Options{Mode: ModeInCluster})
	form := url.Values{"token": {operator}}.Encode()

	post := func(path string, header http.Header, body string, cookies ...*http.Cookie) *reply {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		for _, ck := range cookies {
			req.AddCookie(ck)
		}
		cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = res.Body.Close()
		return &reply{StatusCode: res.StatusCode, Status: res.Status, cookies: res.Cookies()}
	}
	formHeader := func(origin string) http.Header {
		return http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {origin}}
	}
	if res := post("/login", formHeader("http://evil.example"), form); res.StatusCode != http.StatusForbidden {
		t.Errorf("login posted from another site: %s, want 403", res.Status)
	}
	res := post("/login", formHeader(ts.URL), form)
	var ck *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == tokenCookie {
			ck = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode {
		t.Fatalf("login: %s, cookie %+v; want 303 and an HttpOnly, SameSite=Strict cookie", res.Status, ck)
	}
	if got := do(t, ts, http.MethodGet, "/api/fleet", nil, ck); got.StatusCode != http.StatusOK {
		t.Errorf("fleet with the login cookie: %s", got.Status)
	}
	abort := "/api/canaries/" + ns + "/podinfo/abort"
	if got := post(abort, http.Header{"Origin": {ts.URL}}, "", ck); got.StatusCode != http.StatusForbidden {
		t.Errorf("abort with the cookie but no CSRF token: %s, want 403", got.Status)
	}
	csrf := s.csrfToken(&caller{secret: operator})
	if got := post(abort, http.Header{"Origin": {ts.URL}, csrfHeader: {csrf}}, "", ck); got.StatusCode != http.StatusOK {
		t.Errorf("abort with the cookie and the page's CSRF token: %s", got.Status)
	}
	if got := getCanary(t, c); got.Annotations[siskinv1.AnnotationAbort] == "" {
		t.Error("the abort was not set")
	}
}
