package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router/all"
)

// Mode is how the dashboard authenticates and authorises its callers.
type Mode string

// Modes of the dashboard.
const (
	// ModeLocal serves one person on loopback with their own kubeconfig.
	ModeLocal Mode = "local"
	// ModeInCluster authenticates bearer tokens by TokenReview and authorises each read and
	// action by SubjectAccessReview.
	ModeInCluster Mode = "in-cluster"
)

// Options configure a dashboard.
type Options struct {
	// Mode is ModeLocal unless set.
	Mode Mode
	// Addr is where Run listens: "127.0.0.1:0" (any free port on loopback) unless set. In local
	// mode it must be a loopback address.
	Addr string
	// Namespace limits the dashboard to one namespace; empty means all namespaces.
	Namespace string
	// DefaultProvider is the controller's --provider, the router of Canaries that name none:
	// istio unless set. The steps shown are the ones the planner follows for it.
	DefaultProvider string
	// Token is the per-run token of local mode; a random one unless set.
	Token string
	// AllowedHosts are the Host headers accepted in local mode; Run sets them from its
	// listener, a caller of Handler must.
	AllowedHosts []string
	// Out receives the URL Run prints; nothing is printed when nil.
	Out io.Writer
	// TLSCertFile and TLSKeyFile, when set, make Run serve HTTPS (in-cluster mode: bearer
	// tokens should not cross the network in clear).
	TLSCertFile, TLSKeyFile string
}

// Server is a dashboard: a watch on Canaries and their Events, the history kept from it, and
// the HTTP handler.
type Server struct {
	opts   Options
	client client.Client
	cache  cache.Cache
	// objects watches the metadata of the objects the Canary pages show, so that a page
	// follows its Deployments, Services and route between status writes.
	objects cache.Cache
	hub     *hub
	// eventsUnwatched says why Events are not watched, when they are not.
	eventsUnwatched string
	// schedules holds each Canary's planned steps.
	schedules schedules
	authn     authenticator
	authz     authorizer
	csrfKey   []byte
}

// Scheme returns the kinds the dashboard reads.
func Scheme() (*k8sruntime.Scheme, error) {
	return all.Scheme() // the routers' kinds too: the tree reads each route through its router
}

// New returns a dashboard that reads and acts with cfg: the user's kubeconfig in local mode, the
// dashboard's service account in-cluster. Start must run before it serves.
func New(cfg *rest.Config, opts Options) (*Server, error) {
	if opts.Mode == "" {
		opts.Mode = ModeLocal
	}
	if opts.Mode != ModeLocal && opts.Mode != ModeInCluster {
		return nil, fmt.Errorf("unknown dashboard mode %q", opts.Mode)
	}
	if opts.DefaultProvider == "" {
		opts.DefaultProvider = siskinv1.ProviderIstio
	}
	if opts.Token == "" && opts.Mode == ModeLocal {
		opts.Token = randomHex(24)
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	copts := cache.Options{
		Scheme: scheme,
		ByObject: map[client.Object]cache.ByObject{
			// Only the Events of Canaries: the timeline's reasons and messages.
			&corev1.Event{}: {Field: fields.OneTermEqualSelector("involvedObject.kind", siskinv1.CanaryKind)},
		},
	}
	if opts.Namespace != "" {
		copts.DefaultNamespaces = map[string]cache.Config{opts.Namespace: {}}
	}
	c, err := cache.New(cfg, copts)
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	cl, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	oopts := cache.Options{Scheme: scheme, DefaultNamespaces: copts.DefaultNamespaces}
	objects, err := cache.New(cfg, oopts)
	if err != nil {
		return nil, fmt.Errorf("create cache: %w", err)
	}
	s := &Server{opts: opts, client: cl, cache: c, objects: objects, hub: newHub(), csrfKey: []byte(randomHex(32))}
	if opts.Mode == ModeInCluster {
		s.authn = &tokenReviewer{client: cl}
		s.authz = &accessReviewer{client: cl}
	} else {
		s.authn = localSession{token: opts.Token}
		s.authz = allowAll{}
	}
	return s, nil
}

// Token is the per-run token of local mode.
func (s *Server) Token() string { return s.opts.Token }

// Start starts the watches and returns once their caches are filled; they stop with ctx.
func (s *Server) Start(ctx context.Context) error {
	// A watch that may not list retries for ever: ask once first, and say why.
	var scope []client.ListOption
	where := "in every namespace"
	if s.opts.Namespace != "" {
		scope = append(scope, client.InNamespace(s.opts.Namespace))
		where = "in namespace " + s.opts.Namespace
	}
	if err := s.client.List(ctx, &siskinv1.CanaryList{}, append(scope, client.Limit(1))...); err != nil {
		return fmt.Errorf("list canaries %s: %w", where, err)
	}
	inf, err := s.cache.GetInformer(ctx, &siskinv1.Canary{})
	if err != nil {
		return fmt.Errorf("watch canaries: %w", err)
	}
	if _, err := inf.AddEventHandler(s.hub.canaryHandler()); err != nil {
		return err
	}
	if err := s.client.List(ctx, &corev1.EventList{}, append(scope, client.Limit(1))...); err != nil {
		// The timelines then lack the Events; everything else works.
		s.eventsUnwatched = fmt.Sprintf("events (list events %s: %v)", where, err)
	} else {
		ev, err := s.cache.GetInformer(ctx, &corev1.Event{})
		if err != nil {
			return fmt.Errorf("watch events: %w", err)
		}
		if _, err := ev.AddEventHandler(s.hub.eventHandler()); err != nil {
			return err
		}
	}
	s.watchObjects(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.cache.Start(ctx) }()
	if !s.cache.WaitForCacheSync(ctx) {
		select {
		case err := <-errc:
			return fmt.Errorf("start watches: %w", err)
		default:
			return errors.New("watches did not sync")
		}
	}
	return nil
}

// treeKinds are the kinds of the objects a Canary page shows.
var treeKinds = []schema.GroupVersionKind{
	appsv1.SchemeGroupVersion.WithKind("Deployment"),
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
	appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
	corev1.SchemeGroupVersion.WithKind("Service"),
	virtualServiceGVK,
	httpRouteGVK,
}

// watchObjects watches the metadata of the tree's kinds that the cluster serves and that may
// be listed; the others are read when a page is built, and followed at the Canary's next
// status write. It does not wait for these watches: the pages do not depend on them.
func (s *Server) watchObjects(ctx context.Context) {
	for _, gvk := range treeKinds {
		list := &metav1.PartialObjectMetadataList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		var opts []client.ListOption
		if s.opts.Namespace != "" {
			opts = append(opts, client.InNamespace(s.opts.Namespace))
		}
		if err := s.client.List(ctx, list, append(opts, client.Limit(1))...); err != nil {
			continue // not served here, or not ours to list
		}
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(gvk)
		inf, err := s.objects.GetInformer(ctx, obj, cache.BlockUntilSynced(false))
		if err != nil {
			continue
		}
		_, _ = inf.AddEventHandler(s.hub.objectHandler())
	}
	go func() { _ = s.objects.Start(ctx) }()
}

// Run serves the dashboard on opts.Addr until ctx ends, printing its URL to opts.Out.
func Run(ctx context.Context, cfg *rest.Config, opts Options) error {
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	mode := opts.Mode
	if mode == "" {
		mode = ModeLocal
	}
	if mode == ModeLocal {
		if err := requireLoopback(opts.Addr); err != nil {
			return err
		}
	}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", opts.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	defer func() { _ = ln.Close() }()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	if mode == ModeLocal && len(opts.AllowedHosts) == 0 {
		opts.AllowedHosts = LoopbackHosts(port)
	}
	s, err := New(cfg, opts)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return err
	}
	if opts.Out != nil {
		if mode == ModeLocal {
			host := net.JoinHostPort(ln.Addr().(*net.TCPAddr).IP.String(), port)
			_, _ = fmt.Fprintf(opts.Out, "Siskin dashboard: http://%s/?token=%s\n(press Ctrl-C to stop)\n", host, s.Token())
		} else {
			_, _ = fmt.Fprintf(opts.Out, "Siskin dashboard listening on %s\n", ln.Addr())
		}
	}
	srv := &http.Server{
		Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second,
		// Event streams end with ctx; Shutdown would otherwise wait for them.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if opts.TLSCertFile != "" {
		err = srv.ServeTLS(ln, opts.TLSCertFile, opts.TLSKeyFile)
	} else {
		err = srv.Serve(ln)
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LoopbackHosts are the Host headers of a loopback server on port.
func LoopbackHosts(port string) []string {
	return []string{"127.0.0.1:" + port, "localhost:" + port, "[::1]:" + port}
}

// requireLoopback refuses a local-mode address that is not on loopback: the dashboard acts with
// the user's credentials.
func requireLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("address %q is not on loopback: the local dashboard acts with your credentials", addr)
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
