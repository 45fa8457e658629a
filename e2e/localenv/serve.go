package main

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/siskin-dev/siskin/e2e/dataplane"
	"github.com/siskin-dev/siskin/e2e/freeport"
	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
	"github.com/siskin-dev/siskin/e2e/localenv/podnet"
	"github.com/siskin-dev/siskin/e2e/slacksink"
	"github.com/siskin-dev/siskin/e2e/testapp"
)

// ownStages are the kwok stages the localenv replaces (see kwokStages).
//
//go:embed stages/*.yaml
var ownStages embed.FS

const (
	serviceCIDR = "10.96.0.0/16"
	serviceIP   = "10.96.0.1"
	// controllers kube-controller-manager runs: no node IPAM or lifecycle (kwok owns the node).
	kcmControllers = "*,-nodeipam,-nodelifecycle,-ttl,-bootstrapsigner,-tokencleaner"
)

// options are the flags shared by up and serve.
type options struct {
	stateDir   string
	repo       string
	binDir     string
	prometheus string
	loadtester string
	timeout    time.Duration
	verbose    bool
}

// supervisor owns every component of the environment: child processes and in-process
// servers. It is the `serve` command, started in the background by `up`.
type supervisor struct {
	o     options
	start time.Time
	env   *envfile.Env
	mu    sync.Mutex
	procs []*proc
	cfg   *rest.Config
	kube  client.Client
	ports map[string]int
	pki   *pki
	net   *podnet.Lease
	pods  podnet.Map
	// ready holds readiness checks of in-process components, served on /healthz/<name>.
	ready map[string]func() bool
	wg    sync.WaitGroup
}

// progress prints one timed line; `up` relays these lines to the terminal.
func (s *supervisor) progress(format string, args ...any) {
	fmt.Printf("[%6.1fs] %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
}

func serve(o options) error {
	s := &supervisor{o: o, start: time.Now(), ready: map[string]func() bool{}}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	compCtx, cancelComponents := context.WithCancel(ctx)
	err := s.up(ctx, compCtx)
	if err != nil {
		s.progress("FAILED: %v", err)
	} else {
		s.progress("localenv ready in %.1fs; stop it with: go run ./e2e/localenv down", time.Since(s.start).Seconds())
		<-ctx.Done()
		s.progress("stopping")
	}
	cancelComponents()
	s.shutdown()
	if err != nil {
		return err
	}
	s.progress("stopped")
	return nil
}

// up starts everything in dependency order, waiting for each step to be healthy; steps
// that do not depend on each other run in parallel.
func (s *supervisor) up(ctx, compCtx context.Context) error {
	if err := s.prepare(); err != nil {
		return err
	}
	// The Slack sink and the supervisor's own health endpoint need nothing else.
	if err := s.serveHTTP(compCtx, "slack", slacksink.New()); err != nil {
		return err
	}
	if err := s.serveHTTP(compCtx, "localenv", s.healthHandler()); err != nil {
		return err
	}
	prom, err := s.startPrometheus()
	if err != nil {
		return err
	}
	if err := s.startAPI(ctx); err != nil {
		return err
	}
	s.startTestapp(compCtx)
	s.startPodScraper(compCtx)
	if err := s.startCluster(ctx); err != nil {
		return err
	}
	if err := s.startDataplane(compCtx); err != nil {
		return err
	}
	for _, n := range []string{"dataplane", "testapp"} {
		if err := waitHealthy(ctx, n, nil, s.health(n), s.o.timeout); err != nil {
			return err
		}
	}
	s.progress("data plane ready on %s; test app watching pods", s.env.Dataplane.URL)
	if err := waitHealthy(ctx, "prometheus", prom, s.health("prometheus"), s.o.timeout); err != nil {
		return err
	}
	s.progress("prometheus ready on %s", s.env.Prometheus)
	if s.o.loadtester != "" {
		lt, err := s.startLoadtester()
		if err != nil {
			return err
		}
		if err := waitHealthy(ctx, "loadtester", lt, s.health("loadtester"), s.o.timeout); err != nil {
			return err
		}
		s.progress("load tester ready on %s", s.env.Loadtester)
	}
	s.env.Ready = true
	return s.writeEnv()
}

// prepare creates the state directory layout, picks ports, generates credentials, leases a
// pod network and writes the kubeconfig and a first env.json.
func (s *supervisor) prepare() error {
	o := s.o
	for _, d := range []string{"logs", "pids", "pki", "etcd", "prometheus/data", "prometheus/targets", "prometheus/pods", "kcm", "scheduler"} {
		if err := os.MkdirAll(filepath.Join(o.stateDir, d), 0o700); err != nil {
			return fmt.Errorf("create state dir: %w", err)
		}
	}
	names := []string{"etcd", "etcd-peer", "apiserver", "kcm", "scheduler", "kwok", "prometheus", "dataplane", "slack", "localenv", "loadtester"}
	ports, err := freeport.Ports(context.Background(), len(names))
	if err != nil {
		return err
	}
	s.ports = map[string]int{}
	for i, n := range names {
		s.ports[n] = ports[i]
	}
	if s.pki, err = newPKI(filepath.Join(o.stateDir, "pki")); err != nil {
		return err
	}
	if s.net, err = podnet.Acquire(); err != nil {
		return err
	}
	if s.pods, err = podnet.New(s.net.CIDR); err != nil {
		return err
	}
	s.env = s.newEnv()
	if err := os.WriteFile(s.env.Kubeconfig, s.pki.kubeconfig(s.env.APIServer), 0o600); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	if err := s.writeEnv(); err != nil {
		return err
	}
	s.progress("state in %s; ports picked; certificates and keys generated; pod network %s", o.stateDir, s.net.CIDR)
	return nil
}

// startAPI starts etcd and kube-apiserver and connects to it.
func (s *supervisor) startAPI(ctx context.Context) error {
	etcd, err := s.startEtcd()
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, "etcd", etcd, s.health("etcd"), s.o.timeout); err != nil {
		return err
	}
	s.progress("etcd ready on %s", s.env.Etcd)
	apiserver, err := s.startAPIServer()
	if err != nil {
		return err
	}
	if err := waitHealthy(ctx, "kube-apiserver", apiserver, s.health("kube-apiserver"), s.o.timeout); err != nil {
		return err
	}
	s.progress("kube-apiserver ready on %s", s.env.APIServer)
	if s.cfg, err = clientcmd.BuildConfigFromFlags("", s.env.Kubeconfig); err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	s.cfg.QPS, s.cfg.Burst = 500, 1000
	scheme, err := clusterScheme()
	if err != nil {
		return err
	}
	if s.kube, err = client.New(s.cfg, client.Options{Scheme: scheme}); err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	return nil
}

// startCluster starts kube-controller-manager, kube-scheduler and kwok, creates the node and
// installs the CRDs (in parallel), and waits for all of it.
func (s *supervisor) startCluster(ctx context.Context) error {
	var controllers []*proc
	for _, start := range []func() (*proc, error){s.startControllerManager, s.startScheduler, s.startKwok} {
		p, err := start()
		if err != nil {
			return err
		}
		controllers = append(controllers, p)
	}
	crdDone := make(chan error, 1)
	go func() { crdDone <- s.installCRDs(ctx) }()
	if err := createNodes(ctx, s.kube); err != nil {
		return err
	}
	for _, p := range controllers {
		if err := waitHealthy(ctx, p.name, p, s.health(p.name), s.o.timeout); err != nil {
			return err
		}
	}
	if err := waitNodesReady(ctx, s.kube, s.o.timeout); err != nil {
		return fmt.Errorf("nodes %s not ready (kwok): %w", strings.Join(nodeNames, ", "), err)
	}
	if err := primePodIPs(ctx, s.kube, s.o.timeout); err != nil {
		return err
	}
	s.progress("kube-controller-manager, kube-scheduler and kwok ready; nodes %s Ready", strings.Join(nodeNames, ", "))
	return <-crdDone
}

func (s *supervisor) newEnv() *envfile.Env {
	url := func(scheme, name string) string { return fmt.Sprintf("%s://127.0.0.1:%d", scheme, s.ports[name]) }
	dp := url("http", "dataplane")
	slack := url("http", "slack")
	e := &envfile.Env{
		StateDir:   s.o.stateDir,
		Kubeconfig: filepath.Join(s.o.stateDir, "kubeconfig"),
		APIServer:  url("https", "apiserver"),
		Etcd:       url("http", "etcd"),
		Prometheus: url("http", "prometheus"),
		Dataplane: envfile.Dataplane{
			Address: strings.TrimPrefix(dp, "http://"), URL: dp, Ingress: dp,
			Metrics: dp + "/metrics", Routes: dp + "/routes",
		},
		Gateway: envfile.Gateway{ClassName: gatewayClass, ControllerName: dataplane.DefaultControllerName, Namespace: gatewayNS, Name: gatewayName},
		Slack: envfile.Slack{
			URL: slack, WebhookURL: slack + "/services/localenv", APIURL: slack + "/api/", Messages: slack + "/messages",
		},
		PodCIDR:    s.net.CIDR,
		NodeName:   nodeNames[0],
		NodeNames:  nodeNames,
		Supervisor: os.Getpid(),
	}
	if s.o.loadtester != "" {
		e.Loadtester = url("http", "loadtester")
	}
	health := map[string]string{
		"localenv":                url("http", "localenv") + "/healthz",
		"etcd":                    e.Etcd + "/health",
		"kube-apiserver":          e.APIServer + "/readyz",
		"kube-controller-manager": url("https", "kcm") + "/healthz",
		"kube-scheduler":          url("https", "scheduler") + "/healthz",
		"kwok":                    url("http", "kwok") + "/healthz",
		"prometheus":              e.Prometheus + "/-/ready",
		"dataplane":               dp + "/readyz",
		"testapp":                 url("http", "localenv") + "/healthz/testapp",
		"slack":                   slack + "/healthz",
		"loadtester":              e.Loadtester + "/healthz",
	}
	for _, n := range []string{"localenv", "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "prometheus", "dataplane", "testapp", "slack", "loadtester"} {
		if n == "loadtester" && e.Loadtester == "" {
			continue
		}
		c := envfile.Component{Name: n, Health: health[n], Log: logPath(s.o.stateDir, n)}
		if n == "localenv" {
			c.PID = os.Getpid()
		}
		e.Components = append(e.Components, c)
	}
	return e
}

func (s *supervisor) health(name string) string {
	for _, c := range s.env.Components {
		if c.Name == name {
			return c.Health
		}
	}
	return ""
}

func (s *supervisor) writeEnv() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return envfile.Write(s.env)
}

// launch starts a child process and records its pid in env.json.
func (s *supervisor) launch(name, path string, args, env []string) (*proc, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s: %w (run `make tools`)", name, err)
	}
	p, err := startProc(s.o.stateDir, name, path, args, env, func(p *proc) {
		s.progress("%s exited unexpectedly (%v); see %s", p.name, p.err, logPath(s.o.stateDir, p.name))
	})
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	for i := range s.env.Components {
		if s.env.Components[i].Name == name {
			s.env.Components[i].PID = p.cmd.Process.Pid
		}
	}
	s.mu.Unlock()
	return p, s.writeEnv()
}

func (s *supervisor) bin(name string) string { return filepath.Join(s.o.binDir, name) }

func (s *supervisor) startEtcd() (*proc, error) {
	client := fmt.Sprintf("http://127.0.0.1:%d", s.ports["etcd"])
	peer := fmt.Sprintf("http://127.0.0.1:%d", s.ports["etcd-peer"])
	return s.launch("etcd", s.bin("etcd"), []string{
		"--name=localenv",
		"--data-dir=" + filepath.Join(s.o.stateDir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=localenv=" + peer,
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=8589934592",
		"--log-level=warn",
	}, nil)
}

func (s *supervisor) startAPIServer() (*proc, error) {
	p := s.pki
	return s.launch("kube-apiserver", s.bin("kube-apiserver"), []string{
		"--etcd-servers=" + s.env.Etcd,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.ports["apiserver"]),
		"--cert-dir=" + filepath.Join(s.o.stateDir, "pki", "apiserver"),
		"--tls-cert-file=" + p.serverCert,
		"--tls-private-key-file=" + p.serverKey,
		"--client-ca-file=" + p.caCert,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.saPub,
		"--service-account-signing-key-file=" + p.saKey,
		"--token-auth-file=" + p.tokens,
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		// Pods need no service-account token volume (kwok runs no containers), and a pod
		// created before the namespace's default ServiceAccount would be refused.
		"--disable-admission-plugins=ServiceAccount,TaintNodesByCondition",
		"--enable-priority-and-fairness=false",
		"--max-requests-inflight=2000",
		"--max-mutating-requests-inflight=1000",
		"--allow-privileged=true",
		"--profiling=false",
		"--event-ttl=15m",
	}, nil)
}

func (s *supervisor) startControllerManager() (*proc, error) {
	return s.launch("kube-controller-manager", s.bin("kube-controller-manager"), []string{
		"--kubeconfig=" + s.env.Kubeconfig,
		"--controllers=" + kcmControllers,
		"--leader-elect=false",
		"--kube-api-qps=1000", "--kube-api-burst=2000",
		"--concurrent-deployment-syncs=20", "--concurrent-replicaset-syncs=20",
		"--concurrent-service-endpoint-syncs=20",
		"--service-account-private-key-file=" + s.pki.saKey,
		"--root-ca-file=" + s.pki.caCert,
		"--use-service-account-credentials=false",
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.ports["kcm"]),
		"--cert-dir=" + filepath.Join(s.o.stateDir, "kcm"),
		// Kept in the state dir: the default is created under /usr/libexec.
		"--flex-volume-plugin-dir=" + filepath.Join(s.o.stateDir, "kcm", "flexvolume"),
		"--profiling=false",
	}, nil)
}

func (s *supervisor) startScheduler() (*proc, error) {
	cfg := filepath.Join(s.o.stateDir, "scheduler", "config.yaml")
	conf := fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %s
  qps: 1000
  burst: 2000
leaderElection:
  leaderElect: false
`, s.env.Kubeconfig)
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		return nil, fmt.Errorf("write scheduler config: %w", err)
	}
	return s.launch("kube-scheduler", s.bin("kube-scheduler"), []string{
		"--config=" + cfg,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(s.ports["scheduler"]),
		"--cert-dir=" + filepath.Join(s.o.stateDir, "scheduler"),
	}, nil)
}

// kwokStages lists kwok's "fast" stage configs from bin/kwok-stages with the localenv's own
// stages (stages/*.yaml, written into the state directory) in place of those of the same file
// name.
func (s *supervisor) kwokStages() ([]string, error) {
	dir := filepath.Join(s.o.binDir, "kwok-stages")
	found, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(found) == 0 {
		return nil, fmt.Errorf("no kwok stage configs in %s (run `make tools`)", dir)
	}
	own, err := fs.ReadDir(ownStages, "stages")
	if err != nil {
		return nil, err
	}
	outDir := filepath.Join(s.o.stateDir, "kwok-stages")
	if err := os.MkdirAll(outDir, 0o700); err != nil {
		return nil, err
	}
	replaced := map[string]bool{}
	var stages []string
	for _, e := range own {
		b, err := ownStages.ReadFile("stages/" + e.Name())
		if err != nil {
			return nil, err
		}
		p := filepath.Join(outDir, e.Name())
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return nil, fmt.Errorf("write kwok stage: %w", err)
		}
		replaced[e.Name()] = true
		stages = append(stages, p)
	}
	for _, p := range found {
		if !replaced[filepath.Base(p)] {
			stages = append(stages, p)
		}
	}
	return stages, nil
}

func (s *supervisor) startKwok() (*proc, error) {
	stages, err := s.kwokStages()
	if err != nil {
		return nil, err
	}
	return s.launch("kwok", s.bin("kwok"), []string{
		"--kubeconfig=" + s.env.Kubeconfig,
		"--config=" + strings.Join(stages, ","),
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokAnnotation + "=fake",
		"--cidr=" + s.net.KwokCIDR,
		"--node-ip=127.0.0.1",
		"--server-address=127.0.0.1:" + strconv.Itoa(s.ports["kwok"]),
	}, []string{"HOME=" + s.o.stateDir}) // keeps a developer's ~/.kwok config out
}

func (s *supervisor) startPrometheus() (*proc, error) {
	dir := filepath.Join(s.o.stateDir, "prometheus")
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(s.prometheusConfig()), 0o644); err != nil {
		return nil, fmt.Errorf("write prometheus config: %w", err)
	}
	return s.launch("prometheus", s.o.prometheus, []string{
		"--config.file=" + cfg,
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--storage.tsdb.retention.time=1d",
		"--web.listen-address=127.0.0.1:" + strconv.Itoa(s.ports["prometheus"]),
		"--web.enable-lifecycle",
		"--log.level=warn",
	}, nil)
}

// prometheusConfig scrapes the data plane, the jobs added with `localenv scrape`, and the pods
// that ask for it.
func (s *supervisor) prometheusConfig() string {
	dir := filepath.Join(s.o.stateDir, "prometheus")
	return fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
- job_name: dataplane
  static_configs:
  - targets: ["127.0.0.1:%d"]
# Jobs added later with "localenv scrape <job> <addr>" (the Siskin controller, the load tester).
- job_name: localenv-extra
  file_sd_configs:
  - files: ["%s"]
    refresh_interval: 2s
%s`, s.ports["dataplane"], filepath.Join(dir, "targets", "*.json"), s.podScrapeConfig())
}

// podScrapeConfig is the Prometheus job of the pods that ask to be scraped (annotation
// prometheus.io/scrape: "true"), listed in prometheus/pods/pods.json by the supervisor's pod
// watch (podScraper): Debian's Prometheus has no Kubernetes discovery.
func (s *supervisor) podScrapeConfig() string {
	return fmt.Sprintf(`- job_name: pods
  file_sd_configs:
  - files: ["%s"]
    refresh_interval: 2s
`, filepath.Join(s.o.stateDir, "prometheus", "pods", "*.json"))
}

// startPodScraper keeps Prometheus's list of the pods to scrape up to date (podScraper).
func (s *supervisor) startPodScraper(ctx context.Context) {
	log, err := s.componentLogger("localenv-pods")
	if err != nil {
		s.progress("%v", err)
	}
	p := &podScraper{client: kubernetes.NewForConfigOrDie(s.cfg), pods: s.pods, log: log,
		file: filepath.Join(s.o.stateDir, "prometheus", "pods", "pods.json")}
	s.wg.Go(func() {
		if err := p.run(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "Pod scrape discovery stopped")
			s.progress("pod scrape discovery stopped: %v", err)
		}
	})
}

func (s *supervisor) startLoadtester() (*proc, error) {
	return s.launch("loadtester", s.o.loadtester, []string{
		"--listen-address=127.0.0.1:" + strconv.Itoa(s.ports["loadtester"]),
		"--kubectl-path=" + s.bin("kubectl"),
		// Gateway API scenarios aim load at the gateway's host (<app>.<ns>.example.com), which
		// names no Service: an operator allows such hosts explicitly, as here.
		`--allow-target-host=[a-z0-9-]+\.[a-z0-9-]+\.example\.com(:[0-9]+)?`,
	}, []string{
		// Load generated against http://<svc>.<ns>:<port>/ goes through the data plane.
		"HTTP_PROXY=" + s.env.Dataplane.URL, "http_proxy=" + s.env.Dataplane.URL,
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"KUBECONFIG=" + s.env.Kubeconfig,
	})
}

// installCRDs applies the CRDs and creates the default GatewayClass and Gateway.
func (s *supervisor) installCRDs(ctx context.Context) error {
	files, err := crdFiles(ctx, s.o.repo)
	if err != nil {
		return err
	}
	crds, err := readCRDs(files)
	if err != nil {
		return err
	}
	start := time.Now()
	applied, err := applyCRDs(ctx, s.kube, crds)
	if err != nil {
		return err
	}
	if err := createGateway(ctx, s.kube); err != nil {
		return err
	}
	s.progress("%d CRDs (Siskin, Istio, Gateway API, KEDA ScaledObject) applied in %.1fs, established in %.1fs; GatewayClass %s, Gateway %s/%s and IngressClass %s created",
		len(crds), applied.Seconds(), (time.Since(start) - applied).Seconds(), gatewayClass, gatewayNS, gatewayName, ingressClass)
	return nil
}

// componentLogger returns a logger writing to logs/<name>.log.
func (s *supervisor) componentLogger(name string) (logr.Logger, error) {
	f, err := os.OpenFile(logPath(s.o.stateDir, name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return logr.Discard(), fmt.Errorf("open log of %s: %w", name, err)
	}
	level := zapcore.InfoLevel
	if s.o.verbose {
		level = zapcore.DebugLevel
	}
	enc := zap.NewDevelopmentEncoderConfig()
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(enc), zapcore.AddSync(f), level)
	return zapr.NewLogger(zap.New(core)), nil
}

// serveHTTP serves h on the component's port until ctx ends.
func (s *supervisor) serveHTTP(ctx context.Context, name string, h http.Handler) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:"+strconv.Itoa(s.ports[name]))
	if err != nil {
		return fmt.Errorf("listen for %s: %w", name, err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	s.wg.Go(func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.progress("%s stopped serving: %v", name, err)
		}
	})
	s.wg.Go(func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	})
	return nil
}

func (s *supervisor) startDataplane(ctx context.Context) error {
	log, err := s.componentLogger("dataplane")
	if err != nil {
		return err
	}
	// The data plane's informers come from controller-runtime, which logs through its own
	// global logger.
	ctrllog.SetLogger(log)
	dp := dataplane.New(dataplane.Options{Address: "127.0.0.1", Log: log, DialAddr: s.pods.Addr})
	if err := s.serveHTTP(ctx, "dataplane", dp); err != nil {
		return err
	}
	s.wg.Go(func() {
		if err := dp.Run(ctx, s.cfg); err != nil && ctx.Err() == nil {
			log.Error(err, "Data plane stopped")
			s.progress("data plane stopped: %v", err)
		}
	})
	return nil
}

func (s *supervisor) startTestapp(ctx context.Context) {
	log, err := s.componentLogger("testapp")
	if err != nil {
		s.progress("%v", err)
	}
	cs := kubernetes.NewForConfigOrDie(s.cfg)
	app := testapp.NewServer(cs, testapp.Options{Log: log, ListenIP: s.pods.Loopback})
	s.mu.Lock()
	s.ready["testapp"] = app.Ready
	s.mu.Unlock()
	s.wg.Go(func() {
		if err := app.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "Test app stopped")
		}
	})
}

// healthHandler serves the supervisor's /healthz and /healthz/<component> for in-process
// components.
func (s *supervisor) healthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("GET /healthz/{name}", func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		ready := s.ready[r.PathValue("name")]
		s.mu.Unlock()
		if ready == nil || !ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ok")
	})
	// Outages on request, for fault injection (`make chaos`): a real stop and a real start of
	// the child with the same command line, not a pause.
	mux.HandleFunc("POST /stop/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		p := s.restartable(name)
		if p == nil {
			http.Error(w, name+" cannot be stopped on request", http.StatusNotFound)
			return
		}
		p.stop(10 * time.Second)
		s.progress("%s stopped on request", name)
		_, _ = io.WriteString(w, "stopped")
	})
	mux.HandleFunc("POST /start/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		if err := s.restart(r.Context(), name); err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		_, _ = io.WriteString(w, "started")
	})
	return mux
}

// starters are the children that may be stopped and started again while the environment runs.
func (s *supervisor) starters() map[string]func() (*proc, error) {
	return map[string]func() (*proc, error){"prometheus": s.startPrometheus, "kube-apiserver": s.startAPIServer}
}

// restartable returns the running or stopped child name if it may be stopped on request.
func (s *supervisor) restartable(name string) *proc {
	if _, ok := s.starters()[name]; !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

// restart starts a child stopped on request and waits until it is healthy.
func (s *supervisor) restart(ctx context.Context, name string) error {
	old := s.restartable(name)
	if old == nil {
		return fmt.Errorf("%s cannot be started on request", name)
	}
	if !old.exited() {
		return fmt.Errorf("%s is running", name)
	}
	p, err := s.starters()[name]()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.procs = slices.DeleteFunc(s.procs, func(x *proc) bool { return x == old })
	s.mu.Unlock()
	if err := waitHealthy(ctx, name, p, s.health(name), s.o.timeout); err != nil {
		return err
	}
	s.progress("%s started again on request", name)
	return nil
}

// shutdown stops the in-process components, then the children in reverse start order.
func (s *supervisor) shutdown() {
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	s.mu.Lock()
	procs := append([]*proc(nil), s.procs...)
	s.mu.Unlock()
	// Clients of the API server first, all at once; then the API server; then etcd.
	last := map[string]int{"kube-apiserver": 1, "etcd": 2}
	for stage := 0; stage <= 2; stage++ {
		var wg sync.WaitGroup
		for _, p := range procs {
			if last[p.name] != stage {
				continue
			}
			wg.Go(func() {
				p.stop(10 * time.Second)
				_ = os.Remove(pidPath(s.o.stateDir, p.name))
			})
		}
		wg.Wait()
	}
	if s.env != nil {
		s.env.Ready = false
		_ = s.writeEnv()
	}
	s.net.Release()
}
