package testapp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	toolscache "k8s.io/client-go/tools/cache"
)

// LabelOptOut on a pod with value "false" keeps the app off that pod.
const LabelOptOut = "siskin.dev/testapp"

// bindRetry is how long a listener keeps trying to bind while a recycled pod IP and port are
// still held by the pod that had them before.
const bindRetry = 10 * time.Second

// Options configure a Server.
type Options struct {
	// Log receives the server's logs.
	Log logr.Logger
	// ListenIP returns the local address to serve a pod IP at, or false to leave the pod
	// alone. The default serves loopback pod IPs at themselves.
	ListenIP func(podIP string) (string, bool)
}

// Server serves the app on every Running pod that declares TCP container ports, on
// listenIP(podIP):containerPort, and stops when the pod goes. Pods labelled
// siskin.dev/testapp=false are left alone.
type Server struct {
	client   kubernetes.Interface
	log      logr.Logger
	listenIP func(string) (string, bool)

	mu     sync.Mutex
	pods   map[types.UID]*podApp
	synced func() bool
}

// podApp is the app of one pod: one HTTP server per container port.
type podApp struct {
	key     string
	sig     string
	servers []*http.Server
	cancel  context.CancelFunc
}

// NewServer returns a Server that reads pods through client.
func NewServer(client kubernetes.Interface, o Options) *Server {
	if o.ListenIP == nil {
		o.ListenIP = loopbackOnly
	}
	return &Server{client: client, log: o.Log, listenIP: o.ListenIP, pods: map[types.UID]*podApp{}, synced: func() bool { return false }}
}

func loopbackOnly(podIP string) (string, bool) {
	ip := net.ParseIP(podIP)
	return podIP, ip != nil && ip.IsLoopback()
}

// Run watches pods until ctx ends, then closes every listener.
func (s *Server) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelOptOut + "!=false" }),
		informers.WithTransform(toolscache.TransformFunc(stripPod)))
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.sync(ctx, obj) },
		UpdateFunc: func(_, obj any) { s.sync(ctx, obj) },
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				s.stop(pod.UID)
			}
		},
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	s.mu.Lock()
	s.synced = inf.HasSynced
	s.mu.Unlock()
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
	s.mu.Lock()
	uids := make([]types.UID, 0, len(s.pods))
	for uid := range s.pods {
		uids = append(uids, uid)
	}
	s.mu.Unlock()
	for _, uid := range uids {
		s.stop(uid)
	}
	return nil
}

// Ready reports whether the pod watch has synced.
func (s *Server) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.synced()
}

// Serving returns the number of pods served.
func (s *Server) Serving() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pods)
}

// sync starts, keeps or restarts the app of one pod.
func (s *Server) sync(ctx context.Context, obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ip, ok := s.listenIP(pod.Status.PodIP)
	if pod.Status.Phase != corev1.PodRunning || pod.Status.PodIP == "" || !ok {
		s.stop(pod.UID)
		return
	}
	sig := ip + "|" + signature(pod)
	s.mu.Lock()
	cur := s.pods[pod.UID]
	s.mu.Unlock()
	if cur != nil && cur.sig == sig {
		return
	}
	s.stop(pod.UID)
	app := s.start(ctx, pod, ip, sig)
	if app == nil {
		return
	}
	s.mu.Lock()
	s.pods[pod.UID] = app
	s.mu.Unlock()
}

// start opens a listener per TCP container port of pod.
func (s *Server) start(ctx context.Context, pod *corev1.Pod, ip, sig string) *podApp {
	key := pod.Namespace + "/" + pod.Name
	ctx, cancel := context.WithCancel(ctx)
	app := &podApp{key: key, sig: sig, cancel: cancel}
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		env := map[string]string{}
		for _, e := range c.Env {
			env[e.Name] = e.Value
		}
		cfg, err := ParseConfig(pod.Name, pod.Namespace, c.Image, env)
		if err != nil {
			s.log.Info("Ignoring invalid app env", "pod", key, "error", err.Error())
		}
		var worker *Worker
		if cfg.WorkRate > 0 && hasTCPPort(c) {
			worker = NewWorker(cfg)
			go worker.Run(ctx)
		}
		for _, p := range c.Ports {
			if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
				continue
			}
			addr := net.JoinHostPort(ip, strconv.Itoa(int(p.ContainerPort)))
			srv := &http.Server{Addr: addr, Handler: Handler(cfg, worker), ReadHeaderTimeout: 10 * time.Second}
			app.servers = append(app.servers, srv)
			go s.serve(ctx, key, srv)
		}
	}
	if len(app.servers) == 0 {
		cancel()
		return nil
	}
	s.log.V(1).Info("Serving pod", "pod", key, "podIP", pod.Status.PodIP, "listenIP", ip)
	return app
}

// hasTCPPort reports whether the app serves c on a port: a worker runs only where its metrics
// can be read.
func hasTCPPort(c *corev1.Container) bool {
	for _, p := range c.Ports {
		if p.Protocol == "" || p.Protocol == corev1.ProtocolTCP {
			return true
		}
	}
	return false
}

// serve binds srv's address, retrying for a while when it is still in use, and serves until
// srv is closed.
func (s *Server) serve(ctx context.Context, key string, srv *http.Server) {
	deadline := time.Now().Add(bindRetry)
	var lc net.ListenConfig
	for {
		ln, err := lc.Listen(ctx, "tcp", srv.Addr)
		if err == nil {
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error(err, "Serving pod failed", "pod", key, "addr", srv.Addr)
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		if time.Now().After(deadline) {
			s.log.Error(err, "Cannot listen for pod", "pod", key, "addr", srv.Addr)
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop closes the app of one pod, if any.
func (s *Server) stop(uid types.UID) {
	s.mu.Lock()
	app := s.pods[uid]
	delete(s.pods, uid)
	s.mu.Unlock()
	if app == nil {
		return
	}
	app.cancel()
	for _, srv := range app.servers {
		_ = srv.Close()
	}
	s.log.V(1).Info("Stopped serving pod", "pod", app.key)
}

// signature identifies what a pod's app serves: a change restarts it.
func signature(pod *corev1.Pod) string {
	sig := pod.Status.PodIP
	for _, c := range pod.Spec.Containers {
		sig += "|" + c.Name + "|" + c.Image
		for _, p := range c.Ports {
			sig += fmt.Sprintf("|%d/%s", p.ContainerPort, p.Protocol)
		}
		env := slices.Clone(c.Env)
		slices.SortFunc(env, func(a, b corev1.EnvVar) int {
			switch {
			case a.Name < b.Name:
				return -1
			case a.Name > b.Name:
				return 1
			}
			return 0
		})
		for _, e := range env {
			sig += "|" + e.Name + "=" + e.Value
		}
	}
	return sig
}

// stripPod keeps what the app needs of a pod, to keep thousands of pods cheap.
func stripPod(obj any) (any, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	pod.ManagedFields = nil
	pod.Annotations = nil
	pod.Status.Conditions = nil
	pod.Status.ContainerStatuses = nil
	pod.Spec.Volumes = nil
	return pod, nil
}
