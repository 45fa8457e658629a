//go:build e2e

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
	"github.com/siskin-dev/siskin/e2e/localenv/podnet"
)

// TestMain lets `up` re-execute the test binary as the supervisor: `<test> serve ...`.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		main()
		return
	}
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}

// TestSmoke brings the environment up, runs a 2-replica Deployment whose pods get IPs of the
// pod CIDR and answer at their loopback twins, calls the app through the data plane, finds
// istio_requests_total in Prometheus, and tears it all down.
func TestSmoke(t *testing.T) {
	o := options{prometheus: "/usr/bin/prometheus", timeout: 3 * time.Minute}
	stateDir, err := os.MkdirTemp("", "localenv-smoke-")
	if err != nil {
		t.Fatal(err)
	}
	o.stateDir = stateDir
	o.binDir = os.Getenv("LOCALENV_BIN_DIR") // default <repo>/bin
	if err := o.resolve(); err != nil {
		t.Fatal(err)
	}
	if err := checkBinaries(o); err != nil {
		t.Fatalf("local environment cannot start here (run make tools): %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	start := time.Now()
	if err := up(o); err != nil {
		_ = down(o, false)
		t.Fatalf("up: %v (logs in %s)", err, filepath.Join(stateDir, "logs"))
	}
	tUp := time.Since(start)
	t.Logf("up took %s", tUp.Round(100*time.Millisecond))
	defer func() {
		t0 := time.Now()
		if err := down(o, !t.Failed()); err != nil {
			t.Errorf("down: %v", err)
		}
		t.Logf("down took %s", time.Since(t0).Round(100*time.Millisecond))
		if t.Failed() {
			t.Logf("logs kept in %s", filepath.Join(stateDir, "logs"))
		}
	}()

	env, err := envfile.Read(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := status(o); err != nil {
		t.Fatalf("status after up: %v", err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", env.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	scheme, err := clusterScheme()
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}

	pn, err := podnet.New(env.PodCIDR)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	createPodinfo(ctx, t, c, "smoke")
	var pods corev1.PodList
	eventually(t, "2 Running pods with IPs of the pod CIDR", 60*time.Second, func() error {
		if err := c.List(ctx, &pods, client.InNamespace("smoke"), client.MatchingLabels{"app": "podinfo"}); err != nil {
			return err
		}
		n := 0
		for _, p := range pods.Items {
			if _, ok := pn.Loopback(p.Status.PodIP); ok && p.Status.Phase == corev1.PodRunning {
				n++
			}
		}
		if n != 2 {
			return fmt.Errorf("%d of %d pods Running with an IP in %s", n, len(pods.Items), env.PodCIDR)
		}
		return nil
	})
	if pods.Items[0].Status.PodIP == pods.Items[1].Status.PodIP {
		t.Fatalf("kwok gave both pods the address %s: the data plane can serve only one of them", pods.Items[0].Status.PodIP)
	}
	t.Logf("deployment ready in %s: pods %s=%s %s=%s", time.Since(t0).Round(10*time.Millisecond),
		pods.Items[0].Name, pods.Items[0].Status.PodIP, pods.Items[1].Name, pods.Items[1].Status.PodIP)

	// Each pod answers at its loopback twin.
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	for _, p := range pods.Items {
		lo, _ := pn.Loopback(p.Status.PodIP)
		eventually(t, "pod "+p.Name+" to answer at "+lo, 30*time.Second, func() error {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+lo+":9898/healthz", nil)
			_, err := call(plain, req)
			return err
		})
	}
	// The EndpointSlice lists both pods (which is why pod IPs are not loopback addresses).
	eventually(t, "the EndpointSlice of podinfo to list both pods", 30*time.Second, func() error {
		var slices discoveryv1.EndpointSliceList
		if err := c.List(ctx, &slices, client.InNamespace("smoke"), client.MatchingLabels{discoveryv1.LabelServiceName: "podinfo"}); err != nil {
			return err
		}
		n := 0
		for _, es := range slices.Items {
			n += len(es.Endpoints)
		}
		if n != 2 {
			return fmt.Errorf("%d endpoints", n)
		}
		return nil
	})

	// Through the data plane, by Host header.
	t0 = time.Now()
	hosts := map[string]bool{}
	eventually(t, "the app to answer through the data plane", 30*time.Second, func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, env.Dataplane.URL+"/", nil)
		req.Host = "podinfo.smoke:9898"
		body, err := call(plain, req)
		if err != nil {
			return err
		}
		var got struct{ Version, Hostname string }
		if err := json.Unmarshal(body, &got); err != nil || got.Version != "1.0.0" {
			return fmt.Errorf("answer %s", body)
		}
		hosts[got.Hostname] = true
		return nil
	})
	t.Logf("first answer through the data plane %s after the pods were Running", time.Since(t0).Round(10*time.Millisecond))
	// As an HTTP proxy, the way the load tester reaches services.
	proxied := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(mustURL(t, env.Dataplane.URL))}}
	sent := 1
	eventually(t, "answers from both pods (round-robin)", 10*time.Second, func() error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://podinfo.smoke.svc.cluster.local:9898/", nil)
		body, err := call(proxied, req)
		if err != nil {
			t.Fatalf("request through the proxy: %v", err)
		}
		sent++
		var got struct{ Hostname string }
		_ = json.Unmarshal(body, &got)
		hosts[got.Hostname] = true
		if len(hosts) != 2 || sent < 20 {
			return fmt.Errorf("%d answers came from %v", sent, hosts)
		}
		return nil
	})

	t0 = time.Now()
	q := `sum(istio_requests_total{reporter="destination",destination_workload="podinfo",destination_workload_namespace="smoke",response_code="200"})`
	eventually(t, "istio_requests_total in Prometheus", 30*time.Second, func() error {
		v, err := promQuery(ctx, plain, env.Prometheus, q)
		if err != nil {
			return err
		}
		if v < float64(sent) {
			return fmt.Errorf("%s = %v", q, v)
		}
		return nil
	})
	t.Logf("istio_requests_total visible in Prometheus after %s", time.Since(t0).Round(10*time.Millisecond))

	smokeNodesAndWorkers(ctx, t, c, plain, env)

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, env.Slack.WebhookURL, strings.NewReader(`{"text":"smoke"}`))
	req.Header.Set("Content-Type", "application/json")
	if _, err := call(plain, req); err != nil {
		t.Errorf("slack sink: %v", err)
	}
}

// smokeNodesAndWorkers checks the three Ready nodes, KEDA's ScaledObject CRD, and a worker
// DaemonSet: a pod on each node, each scraped by Prometheus (annotation prometheus.io/scrape)
// with its namespace and pod labels.
func smokeNodesAndWorkers(ctx context.Context, t *testing.T, c client.Client, plain *http.Client, env *envfile.Env) {
	t.Helper()
	if len(env.NodeNames) != 3 {
		t.Errorf("env.json names nodes %v; expected three", env.NodeNames)
	}
	var nodes corev1.NodeList
	if err := c.List(ctx, &nodes); err != nil {
		t.Fatal(err)
	}
	ready := 0
	for i := range nodes.Items {
		if nodeReady(&nodes.Items[i]) {
			ready++
		}
	}
	if ready != 3 {
		t.Errorf("%d of %d nodes Ready; expected three", ready, len(nodes.Items))
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := c.Get(ctx, client.ObjectKey{Name: "scaledobjects.keda.sh"}, &crd); err != nil {
		t.Errorf("KEDA's ScaledObject CRD: %v", err)
	}

	labels := map[string]string{"app": "worker"}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "smoke", Name: "worker"},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": "9797"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "worker", Image: "worker:1.0.0",
					Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9797}},
					Env:   []corev1.EnvVar{{Name: "WORK_RATE", Value: "10"}},
				}}},
			},
		},
	}
	if err := c.Create(ctx, ds); err != nil {
		t.Fatal(err)
	}
	q := `count(testapp_jobs_total{namespace="smoke",pod=~"worker-.*",result="ok"} > 0)`
	eventually(t, "the worker pods' jobs in Prometheus, one pod per node", 60*time.Second, func() error {
		v, err := promQuery(ctx, plain, env.Prometheus, q)
		if err != nil {
			return err
		}
		if v != 3 {
			return fmt.Errorf("%s = %v", q, v)
		}
		return nil
	})
}

func createPodinfo(ctx context.Context, t *testing.T, c client.Client, ns string) {
	t.Helper()
	labels := map[string]string{"app": "podinfo"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(2)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{
						Name: "podinfod", Image: "ghcr.io/stefanprodan/podinfo:6.0.0",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 9898}},
						Env:   []corev1.EnvVar{{Name: "VERSION", Value: "1.0.0"}},
					}}},
				},
			},
		},
		&corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "podinfo"},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: "http", Port: 9898, TargetPort: intstr.FromString("http")}},
			},
		},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create %T: %v", o, err)
		}
	}
}

func call(c *http.Client, req *http.Request) ([]byte, error) {
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, body)
	}
	return body, nil
}

func promQuery(ctx context.Context, c *http.Client, base, q string) (float64, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	body, err := call(c, req)
	if err != nil {
		return 0, err
	}
	var r struct {
		Data struct {
			Result []struct {
				Value []any `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return 0, err
	}
	if len(r.Data.Result) == 0 || len(r.Data.Result[0].Value) != 2 {
		return 0, fmt.Errorf("no data yet")
	}
	s, _ := r.Data.Result[0].Value[1].(string)
	return strconv.ParseFloat(s, 64)
}

func mustURL(t *testing.T, s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func eventually(t *testing.T, what string, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
