package dashboard

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/siskin-dev/siskin/internal/testenv"
	"github.com/siskin-dev/siskin/internal/testenv/rollouttest"
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
	return rollouttest.RunSuite(m, "dashboard suite", func(e *testenv.Env, c client.Client) { env, k8sClient = e, c })
}

func newNamespace(t *testing.T) string {
	t.Helper()
	return rollouttest.CreateNamespace(t, k8sClient, "d-"+rand.String(8))
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
