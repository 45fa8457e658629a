package graphite_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
	"github.com/siskin-dev/siskin/pkg/metrics/graphite"
)

// graphitePython is the interpreter Debian's graphite-web is installed for.
const graphitePython = "/usr/bin/python3"

// The apt packages that bring graphite-web and carbon-cache.
const graphitePackages = "graphite-web graphite-carbon"

// graphiteWeb is a carbon-cache and a graphite-web, both on loopback, run by a test.
type graphiteWeb struct {
	address string // graphite-web's base URL
	line    string // carbon's plaintext receiver
}

// startGraphiteWeb runs Debian's carbon-cache (whisper files in a temporary directory) and
// graphite-web (served by Python's wsgiref, reading carbon's cache through its query port) on
// free loopback ports, until the test ends. It skips the test when they are not installed.
func startGraphiteWeb(t *testing.T) *graphiteWeb {
	t.Helper()
	carbon, err := exec.LookPath("carbon-cache")
	if err != nil {
		t.Skipf("carbon-cache is not installed (apt-get install %s, or hack/graphite.sh)", graphitePackages)
	}
	if _, err := os.Stat(graphitePython); err != nil {
		t.Skipf("%s is missing (apt-get install %s, or hack/graphite.sh)", graphitePython, graphitePackages)
	}
	if out, err := exec.Command(graphitePython, "-c", "import graphite").CombinedOutput(); err != nil {
		t.Skipf("graphite-web is not installed (apt-get install %s, or hack/graphite.sh): %s", graphitePackages, strings.TrimSpace(string(out)))
	}
	dir := t.TempDir()
	ports := freePorts(t, 4)
	line, pickle, query, web := ports[0], ports[1], ports[2], ports[3]
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"storage/whisper", "storage/lists", "log"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o750); err != nil {
			t.Fatal(err)
		}
	}
	write("carbon.conf", fmt.Sprintf(`[cache]
STORAGE_DIR = %[1]s/storage/
LOCAL_DATA_DIR = %[1]s/storage/whisper/
WHITELISTS_DIR = %[1]s/storage/lists/
CONF_DIR = %[1]s/
LOG_DIR = %[1]s/log/
PID_DIR = %[1]s/
DATABASE = whisper
ENABLE_LOGROTATION = False
MAX_CACHE_SIZE = inf
MAX_UPDATES_PER_SECOND = 1000
MAX_CREATES_PER_MINUTE = inf
LINE_RECEIVER_INTERFACE = 127.0.0.1
LINE_RECEIVER_PORT = %[2]d
ENABLE_UDP_LISTENER = False
PICKLE_RECEIVER_INTERFACE = 127.0.0.1
PICKLE_RECEIVER_PORT = %[3]d
CACHE_QUERY_INTERFACE = 127.0.0.1
CACHE_QUERY_PORT = %[4]d
ENABLE_TAGS = False
`, dir, line, pickle, query))
	write("storage-schemas.conf", "[default]\npattern = .*\nretentions = 60s:1d\n")
	write("siskin_graphite_settings.py", fmt.Sprintf(`SECRET_KEY = 'siskin-test'
STORAGE_DIR = %[1]q
WHISPER_DIR = %[1]q + '/whisper'
LOG_DIR = %[2]q
INDEX_FILE = %[1]q + '/index'
CONF_DIR = %[3]q
DATABASES = {'default': {'NAME': %[1]q + '/graphite.db', 'ENGINE': 'django.db.backends.sqlite3'}}
CARBONLINK_HOSTS = ['127.0.0.1:%[4]d']
TAGDB = ''
`, filepath.Join(dir, "storage"), filepath.Join(dir, "log"), dir, query))
	write("serve.py", `import sys
from wsgiref.simple_server import make_server, WSGIRequestHandler
from graphite.wsgi import application
class Quiet(WSGIRequestHandler):
    def log_message(self, *args): pass
make_server('127.0.0.1', int(sys.argv[1]), application, handler_class=Quiet).serve_forever()
`)

	ctx, cancel := context.WithCancel(context.Background())
	logs := map[string]*strings.Builder{"carbon-cache": {}, "graphite-web": {}}
	carbonCmd := exec.CommandContext(ctx, carbon, "--config="+filepath.Join(dir, "carbon.conf"), //nolint:gosec // the test's own files
		"--pidfile="+filepath.Join(dir, "carbon.pid"), "--debug", "start")
	carbonCmd.Stdout, carbonCmd.Stderr = logs["carbon-cache"], logs["carbon-cache"]
	webCmd := exec.CommandContext(ctx, graphitePython, filepath.Join(dir, "serve.py"), fmt.Sprint(web)) //nolint:gosec // the test's own files
	webCmd.Env = append(os.Environ(), "GRAPHITE_SETTINGS_MODULE=siskin_graphite_settings",
		"DJANGO_SETTINGS_MODULE=graphite.settings", "PYTHONPATH="+dir)
	webCmd.Stdout, webCmd.Stderr = logs["graphite-web"], logs["graphite-web"]
	for _, cmd := range []*exec.Cmd{carbonCmd, webCmd} {
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatalf("start %s: %v", cmd.Path, err)
		}
	}
	t.Cleanup(func() {
		cancel()
		_ = carbonCmd.Wait()
		_ = webCmd.Wait()
		if t.Failed() {
			for name, l := range logs {
				t.Logf("%s output:\n%s", name, l.String())
			}
		}
	})
	g := &graphiteWeb{address: fmt.Sprintf("http://127.0.0.1:%d", web), line: fmt.Sprintf("127.0.0.1:%d", line)}
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range []string{g.line, fmt.Sprintf("127.0.0.1:%d", query), fmt.Sprintf("127.0.0.1:%d", web)} {
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("nothing listens on %s after 30s", addr)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return g
}

// send writes datapoints to carbon's plaintext receiver: "name value timestamp" lines.
func (g *graphiteWeb) send(t *testing.T, lines ...string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", g.line, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Close() }()
	w := bufio.NewWriter(c)
	for _, l := range lines {
		_, _ = w.WriteString(l + "\n")
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
}

// freePorts returns n loopback ports free at the time of the call.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}

func TestAgainstGraphiteWeb(t *testing.T) {
	if testing.Short() {
		t.Skip("starts carbon-cache and graphite-web")
	}
	g := startGraphiteWeb(t)
	now := time.Now().Truncate(time.Minute)
	g.send(t,
		fmt.Sprintf("stats.checkout.podinfo-canary.errors 0.5 %d", now.Add(-3*time.Minute).Unix()),
		fmt.Sprintf("stats.checkout.podinfo-canary.errors 0.75 %d", now.Add(-2*time.Minute).Unix()),
		fmt.Sprintf("stats.checkout.podinfo-canary.errors 0.25 %d", now.Add(-time.Minute).Unix()),
		fmt.Sprintf("stats.checkout.podinfo-primary.errors 3 %d", now.Add(-time.Minute).Unix()),
	)

	c, err := graphite.New(metrics.ProviderConfig{Type: "graphite", Address: g.address}, graphite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := metrics.WithEvaluationTime(metrics.WithWindow(context.Background(), time.Minute), now)
	// carbon takes the datapoints asynchronously: wait until graphite-web serves the last one.
	var s metrics.Sample
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		s, err = c.Query(ctx, "target=sumSeries(stats.checkout.podinfo-canary.errors)")
		if err == nil && s.Value == 0.25 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("graphite-web answered %+v, %v; want 0.25", s, err)
		}
	}
	if !s.Time.Equal(now.Add(-time.Minute)) {
		t.Errorf("the datapoint's time is %s, want %s", s.Time, now.Add(-time.Minute))
	}

	// {{ interval }} renders 1m; graphite-web takes it as from once it is written 1min.
	if s, err := c.Query(ctx, "target=stats.checkout.podinfo-canary.errors&from=-10m"); err != nil || s.Value != 0.25 {
		t.Errorf("from=-10m: %+v, %v; want 0.25", s, err)
	}
	// The query's own from is kept, and a window without datapoints is no data.
	if _, err := c.Query(ctx, "target=stats.checkout.podinfo-canary.errors&from=-2d&until=-1d"); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("a window of the day before: %v, want ErrNoData", err)
	}
	if _, err := c.Query(ctx, "target=stats.nothing.here"); !errors.Is(err, metrics.ErrNoData) {
		t.Errorf("an unknown series: %v, want ErrNoData", err)
	}
	if _, err := c.Query(ctx, "target=stats.checkout.*.errors"); !errors.Is(err, metrics.ErrResultShape) || !strings.Contains(err.Error(), "podinfo-primary") {
		t.Errorf("two series: %v, want ErrResultShape naming them", err)
	}
	_, err = c.Query(ctx, "target=sumSerie(stats.checkout.podinfo-canary.errors)")
	if err == nil || !strings.Contains(err.Error(), "400 Bad Request") || !strings.Contains(err.Error(), "unknown function: sumSerie") {
		t.Errorf("an unknown function: %v, want graphite-web's 400 and reason", err)
	}
	if resp, err := http.Get(g.address + "/render?target=stats.checkout.podinfo-canary.errors&format=json"); err == nil { //nolint:noctx // a probe of the test's own server
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("graphite-web answered %s", resp.Status)
		}
	}
}
