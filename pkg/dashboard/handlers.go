package dashboard

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

//go:embed assets
var assets embed.FS

var pages = template.Must(template.ParseFS(assets, "assets/*.html"))

// actions maps the action buttons to the manual-control annotations the controller honours.
// "step" is a promote request for the next step only (canary.PromoteStepPrefix).
var actions = map[string]string{
	"step":    siskinv1.AnnotationPromote,
	"promote": siskinv1.AnnotationPromote,
	"abort":   siskinv1.AnnotationAbort,
	"retry":   siskinv1.AnnotationRetry,
	"pause":   siskinv1.AnnotationPause,
	"resume":  siskinv1.AnnotationResume,
}

// heartbeat keeps a quiet stream open through proxies.
const heartbeat = 20 * time.Second

// coalesce gathers a burst of watch events into one push.
const coalesce = 100 * time.Millisecond

// Handler serves the dashboard's pages, assets and API.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(assets, "assets")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /{$}", s.page)
	mux.HandleFunc("GET /canary/{namespace}/{name}", s.page)
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("GET /api/fleet", s.apiFleet)
	mux.HandleFunc("GET /api/canaries/{namespace}/{name}", s.apiDetail)
	mux.HandleFunc("POST /api/canaries/{namespace}/{name}/{action}", s.apiAction)
	mux.HandleFunc("GET /api/stream", s.stream)
	return s.guard(mux)
}

// guard sets the security headers of every answer and refuses foreign Host headers.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-store")
		if !s.checkHost(r) {
			http.Error(w, "unexpected Host header: open the dashboard at the address it printed", http.StatusMisdirectedRequest)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type pageData struct {
	Mode  string
	CSRF  string
	User  string
	Error string
}

// page serves the single page (fleet and Canary views), the login page in-cluster, or in local
// mode trades the printed URL's token for a session cookie.
func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	if t := r.URL.Query().Get("token"); t != "" && s.opts.Mode == ModeLocal {
		if t != s.opts.Token {
			s.render(w, http.StatusUnauthorized, "unauthenticated.html", pageData{Mode: string(s.opts.Mode), Error: "this token is not the one of this run"})
			return
		}
		http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: t, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
		u := *r.URL
		u.RawQuery = ""
		http.Redirect(w, r, u.Path, http.StatusSeeOther)
		return
	}
	who, err := s.authn.authenticate(r.Context(), r)
	if err != nil {
		s.render(w, http.StatusUnauthorized, "unauthenticated.html", pageData{Mode: string(s.opts.Mode), Error: authMessage(err)})
		return
	}
	s.render(w, http.StatusOK, "index.html", pageData{Mode: string(s.opts.Mode), CSRF: s.csrfToken(who), User: who.User})
}

func authMessage(err error) string {
	if errors.Is(err, errUnauthenticated) {
		return ""
	}
	return err.Error()
}

func (s *Server) render(w http.ResponseWriter, code int, name string, data pageData) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// login takes a bearer token from the in-cluster login form, checks it, and keeps it in an
// HttpOnly cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if s.opts.Mode != ModeInCluster {
		http.NotFound(w, r)
		return
	}
	if o := r.Header.Get("Origin"); o != "http://"+r.Host && o != "https://"+r.Host {
		http.Error(w, "login from another site refused", http.StatusForbidden)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	tr := s.authn.(*tokenReviewer)
	if _, err := tr.review(r.Context(), token); token == "" || err != nil {
		msg := "the token was not accepted by the API server"
		if err != nil && !errors.Is(err, errUnauthenticated) {
			msg = err.Error()
		}
		s.render(w, http.StatusUnauthorized, "unauthenticated.html", pageData{Mode: string(s.opts.Mode), Error: msg})
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: tokenCookie, Value: token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if o := r.Header.Get("Origin"); o != "http://"+r.Host && o != "https://"+r.Host {
		http.Error(w, "logout from another site refused", http.StatusForbidden)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: tokenCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// apiError is the JSON body of an error answer.
type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	var forbidden errForbidden
	switch {
	case errors.Is(err, errUnauthenticated):
		code = http.StatusUnauthorized
	case errors.As(err, &forbidden), apierrors.IsForbidden(err):
		code = http.StatusForbidden
	case apierrors.IsNotFound(err):
		code = http.StatusNotFound
	}
	writeJSON(w, code, apiError{Error: err.Error()})
}

func (s *Server) apiFleet(w http.ResponseWriter, r *http.Request) {
	who, err := s.authn.authenticate(r.Context(), r)
	if err != nil {
		writeError(w, err)
		return
	}
	rows, err := s.fleet(r.Context(), who)
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rows)
}

func (s *Server) apiDetail(w http.ResponseWriter, r *http.Request) {
	who, err := s.authn.authenticate(r.Context(), r)
	if err != nil {
		writeError(w, err)
		return
	}
	d, err := s.detail(r.Context(), who, types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")})
	if err != nil {
		writeError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

// ActionResult is the answer to an action: the annotation set and its value; the controller
// acknowledges it by copying the value into status.manualRequests.
type ActionResult struct {
	Annotation string `json:"annotation"`
	Value      string `json:"value"`
}

func (s *Server) apiAction(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	who, err := s.authn.authenticate(ctx, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.checkOrigin(r, who); err != nil {
		writeJSON(w, http.StatusForbidden, apiError{Error: "cross-site request refused: " + err.Error()})
		return
	}
	ann, ok := actions[r.PathValue("action")]
	if !ok {
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("unknown action %q", r.PathValue("action"))})
		return
	}
	key := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	acc := access{Verb: "patch", Group: siskinv1.GroupVersion.Group, Resource: "canaries", Namespace: key.Namespace, Name: key.Name}
	if ok, err := s.authz.allowed(ctx, who, acc); err != nil {
		writeError(w, err)
		return
	} else if !ok {
		writeError(w, errForbidden{acc})
		return
	}
	value := time.Now().UTC().Format(time.RFC3339Nano)
	if r.PathValue("action") == "step" {
		value = canary.PromoteStepPrefix + value
	}
	body, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{ann: value}}})
	if err != nil {
		writeError(w, err)
		return
	}
	c := &siskinv1.Canary{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
	if err := s.client.Patch(ctx, c, client.RawPatch(types.MergePatchType, body)); err != nil {
		writeError(w, fmt.Errorf("set %s on canary %s: %w", ann, key, err))
		return
	}
	writeJSON(w, http.StatusOK, ActionResult{Annotation: ann, Value: value})
}
