package dashboard

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/testenv"
)

var (
	// env is the suite's API server.
	env *testenv.Env
	// k8sClient talks to it as cluster admin.
	k8sClient client.Client
)

// TestMain starts a real API server with the CRDs; each test works in its own namespace.
func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.WarnLevel)))
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "dashboard suite:", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	k8sClient, err = client.New(env.Config, client.Options{Scheme: env.Scheme})
	if err != nil {
		fmt.Fprintln(os.Stderr, "create client:", err)
		return 1
	}
	return m.Run()
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "d-" + rand.String(8)}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// serve starts a dashboard on a loopback test server, acting with cfg, until the test ends.
func serve(t *testing.T, cfg *rest.Config, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	if opts.Mode != ModeInCluster {
		_, port, _ := net.SplitHostPort(ts.Listener.Addr().String())
		opts.AllowedHosts = LoopbackHosts(port)
	}
	s, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		cancel()
		t.Fatal(err)
	}
	ts.Config.Handler = s.Handler()
	// Streams end with ctx, so that Close, which waits for every request, returns.
	ts.Config.BaseContext = func(net.Listener) context.Context { return ctx }
	ts.Start()
	t.Cleanup(ts.Close)
	t.Cleanup(cancel)
	return s, ts
}

// newCanary is a minimal Canary; the tests that need a rollout run the controller.
func newCanary(ns, name string) *siskinv1.Canary {
	return &siskinv1.Canary{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: siskinv1.CanarySpec{
			Provider:  siskinv1.ProviderKubernetes,
			TargetRef: siskinv1.TargetReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			Service:   siskinv1.CanaryService{Port: 9898},
		},
	}
}

// reply is a test server's whole answer.
type reply struct {
	StatusCode int
	Status     string
	Header     http.Header
	cookies    []*http.Cookie
	Body       []byte
}

func (r *reply) Cookies() []*http.Cookie { return r.cookies }

// do sends a request to the test server with the given headers and cookies, and reads the
// whole answer.
func do(t *testing.T, ts *httptest.Server, method, path string, header http.Header, cookies ...*http.Cookie) *reply {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	for _, c := range cookies {
		req.AddCookie(c)
	}
	cl := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = res.Body.Close() }()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &reply{StatusCode: res.StatusCode, Status: res.Status, Header: res.Header, cookies: res.Cookies(), Body: body}
}
