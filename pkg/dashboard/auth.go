package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Cookie names: the per-run token of local mode, the bearer token of in-cluster mode.
const (
	sessionCookie = "siskin_session"
	tokenCookie   = "siskin_token"
	csrfHeader    = "X-Siskin-Csrf"
)

// How long a TokenReview or SubjectAccessReview answer is reused: a revoked token or role stops
// working within this time.
const reviewTTL = 10 * time.Second

// errUnauthenticated means the request carries no valid credentials.
var errUnauthenticated = errors.New("unauthenticated")

// caller is who makes a request.
type caller struct {
	User   string
	UID    string
	Groups []string
	Extra  map[string]authorizationv1.ExtraValue
	// viaCookie is true when the browser sent the credentials on its own (a cookie), so that a
	// state-changing request also needs the CSRF token.
	viaCookie bool
	// secret is what the CSRF token is derived from.
	secret string
}

// authenticator finds the caller of a request.
type authenticator interface {
	authenticate(ctx context.Context, r *http.Request) (*caller, error)
}

// access is one Kubernetes permission.
type access struct {
	Verb, Group, Resource, Namespace, Name string
}

func (a access) String() string {
	res := a.Resource
	if a.Group != "" {
		res += "." + a.Group
	}
	s := a.Verb + " " + res
	if a.Namespace != "" {
		s += " in namespace " + a.Namespace
	}
	return s
}

// authorizer decides whether the caller has a permission.
type authorizer interface {
	allowed(ctx context.Context, c *caller, a access) (bool, error)
}

// localSession accepts the per-run token of local mode, from its cookie.
type localSession struct{ token string }

func (l localSession) authenticate(_ context.Context, r *http.Request) (*caller, error) {
	ck, err := r.Cookie(sessionCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(ck.Value), []byte(l.token)) != 1 {
		return nil, errUnauthenticated
	}
	return &caller{User: "kubeconfig", viaCookie: true, secret: l.token}, nil
}

// allowAll leaves authorisation to the API server: in local mode every read and write goes
// out with the user's own credentials.
type allowAll struct{}

func (allowAll) allowed(context.Context, *caller, access) (bool, error) { return true, nil }

// tokenReviewer authenticates Kubernetes bearer tokens with TokenReview.
type tokenReviewer struct {
	client client.Client
	mu     sync.Mutex
	cache  map[string]cachedCaller
}

type cachedCaller struct {
	caller  caller
	expires time.Time
}

// bearer returns the request's token: the Authorization header, else the login cookie.
func bearer(r *http.Request) (token string, viaCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			return strings.TrimSpace(t), false
		}
		return "", false
	}
	if ck, err := r.Cookie(tokenCookie); err == nil {
		return ck.Value, true
	}
	return "", false
}

func (t *tokenReviewer) authenticate(ctx context.Context, r *http.Request) (*caller, error) {
	token, viaCookie := bearer(r)
	if token == "" {
		return nil, errUnauthenticated
	}
	c, err := t.review(ctx, token)
	if err != nil {
		return nil, err
	}
	c.viaCookie = viaCookie
	c.secret = token
	return c, nil
}

func (t *tokenReviewer) review(ctx context.Context, token string) (*caller, error) {
	sum := sha256.Sum256([]byte(token))
	key := hex.EncodeToString(sum[:])
	t.mu.Lock()
	if e, ok := t.cache[key]; ok && time.Now().Before(e.expires) {
		t.mu.Unlock()
		c := e.caller
		return &c, nil
	}
	t.mu.Unlock()
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}}
	if err := t.client.Create(ctx, tr); err != nil {
		return nil, fmt.Errorf("token review: %w", err)
	}
	if !tr.Status.Authenticated {
		return nil, errUnauthenticated
	}
	u := tr.Status.User
	c := caller{User: u.Username, UID: u.UID, Groups: u.Groups}
	if len(u.Extra) > 0 {
		c.Extra = map[string]authorizationv1.ExtraValue{}
		for k, v := range u.Extra {
			c.Extra[k] = authorizationv1.ExtraValue(v)
		}
	}
	t.mu.Lock()
	if t.cache == nil || len(t.cache) > 1000 {
		t.cache = map[string]cachedCaller{}
	}
	t.cache[key] = cachedCaller{caller: c, expires: time.Now().Add(reviewTTL)}
	t.mu.Unlock()
	return &c, nil
}

// accessReviewer authorises with SubjectAccessReview, as the caller.
type accessReviewer struct {
	client client.Client
	mu     sync.Mutex
	cache  map[string]cachedAnswer
}

type cachedAnswer struct {
	allowed bool
	expires time.Time
}

func (a *accessReviewer) allowed(ctx context.Context, c *caller, acc access) (bool, error) {
	groups := slices.Clone(c.Groups)
	slices.Sort(groups)
	key := fmt.Sprintf("%s\x00%s\x00%s\x00%v", c.User, c.UID, strings.Join(groups, ","), acc)
	a.mu.Lock()
	if e, ok := a.cache[key]; ok && time.Now().Before(e.expires) {
		a.mu.Unlock()
		return e.allowed, nil
	}
	a.mu.Unlock()
	sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: c.User, UID: c.UID, Groups: c.Groups, Extra: c.Extra,
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Verb: acc.Verb, Group: acc.Group, Resource: acc.Resource, Namespace: acc.Namespace, Name: acc.Name,
		},
	}}
	if err := a.client.Create(ctx, sar); err != nil {
		return false, fmt.Errorf("subject access review: %w", err)
	}
	a.mu.Lock()
	if a.cache == nil || len(a.cache) > 10000 {
		a.cache = map[string]cachedAnswer{}
	}
	a.cache[key] = cachedAnswer{allowed: sar.Status.Allowed, expires: time.Now().Add(reviewTTL)}
	a.mu.Unlock()
	return sar.Status.Allowed, nil
}

// csrfToken is the token the page sends back with each action: an HMAC of the caller's secret,
// so it cannot be guessed by another site and is not the secret itself.
func (s *Server) csrfToken(c *caller) string {
	m := hmac.New(sha256.New, s.csrfKey)
	m.Write([]byte(c.secret))
	return hex.EncodeToString(m.Sum(nil))
}

// checkHost refuses, in local mode, a Host header that is not the loopback server's own: a
// page from another site that rebinds its DNS name to 127.0.0.1 sends its own name.
func (s *Server) checkHost(r *http.Request) bool {
	if s.opts.Mode != ModeLocal {
		return true
	}
	return slices.Contains(s.opts.AllowedHosts, r.Host)
}

// checkOrigin requires a state-changing request made with cookies to come from this server's
// own pages, with the CSRF token the page was given.
func (s *Server) checkOrigin(r *http.Request, c *caller) error {
	if !c.viaCookie {
		// A bearer token in a header is never sent by a browser on its own.
		return nil
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return errors.New("missing Origin header")
	}
	if origin != "http://"+r.Host && origin != "https://"+r.Host {
		return fmt.Errorf("origin %q is not this dashboard", origin)
	}
	if got := r.Header.Get(csrfHeader); subtle.ConstantTimeCompare([]byte(got), []byte(s.csrfToken(c))) != 1 {
		return errors.New("missing or wrong CSRF token")
	}
	return nil
}
