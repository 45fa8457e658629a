package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/siskin-dev/siskin/e2e/localenv/podnet"
)

// The pod annotations a cluster's Prometheus commonly honours.
const (
	annotationScrape = "prometheus.io/scrape"
	annotationPort   = "prometheus.io/port"
	annotationPath   = "prometheus.io/path"
)

// podScrapeWrite spaces the rewrites of the pods' target file.
const podScrapeWrite = 200 * time.Millisecond

// targetGroup is one entry of a Prometheus file_sd file.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// podTargets returns the Prometheus targets of the Running pods that ask to be scraped, as a
// cluster's Prometheus finds them with its pod discovery and the usual relabelling: annotation
// prometheus.io/scrape "true", at prometheus.io/port (default: each declared TCP container
// port) and prometheus.io/path (default /metrics), labelled with namespace and pod. A pod IP is
// scraped at its loopback twin, where the test app serves it. Debian's Prometheus is built
// without Kubernetes discovery, so the local environment does the discovery and hands
// Prometheus a file.
func podTargets(pods []*corev1.Pod, m podnet.Map) []targetGroup {
	out := []targetGroup{}
	for _, p := range pods {
		if p.Annotations[annotationScrape] != "true" || p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		ip, ok := m.Loopback(p.Status.PodIP)
		if !ok {
			continue
		}
		var ports []string
		if v := p.Annotations[annotationPort]; v != "" {
			if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65536 {
				ports = append(ports, v)
			}
		} else {
			for _, c := range p.Spec.Containers {
				for _, cp := range c.Ports {
					if cp.Protocol == "" || cp.Protocol == corev1.ProtocolTCP {
						ports = append(ports, strconv.Itoa(int(cp.ContainerPort)))
					}
				}
			}
		}
		if len(ports) == 0 {
			continue
		}
		g := targetGroup{Labels: map[string]string{"namespace": p.Namespace, "pod": p.Name}}
		for _, port := range ports {
			g.Targets = append(g.Targets, net.JoinHostPort(ip, port))
		}
		if path := p.Annotations[annotationPath]; path != "" {
			g.Labels["__metrics_path__"] = path
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b targetGroup) int {
		return cmp.Or(cmp.Compare(a.Labels["namespace"], b.Labels["namespace"]), cmp.Compare(a.Labels["pod"], b.Labels["pod"]))
	})
	return out
}

// podScraper keeps file, Prometheus's file_sd list of the pods to scrape, up to date with the
// pods of the API server.
type podScraper struct {
	client kubernetes.Interface
	pods   podnet.Map
	file   string
	log    logr.Logger
}

// run watches pods until ctx ends, rewriting the file (atomically, and only when it changes)
// at most every podScrapeWrite.
func (p *podScraper) run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(p.client, 0, informers.WithTransform(func(o any) (any, error) {
		if pod, ok := o.(*corev1.Pod); ok {
			pod.ManagedFields, pod.Status.Conditions, pod.Status.ContainerStatuses, pod.Spec.Volumes = nil, nil, nil, nil
		}
		return o, nil
	}))
	inf := factory.Core().V1().Pods().Informer()
	kick := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, o any) { notify(o) }, DeleteFunc: notify,
	}); err != nil {
		return fmt.Errorf("watch pods: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return ctx.Err()
	}
	notify(nil)
	var last []byte
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-kick:
		}
		var pods []*corev1.Pod
		for _, o := range inf.GetStore().List() {
			if pod, ok := o.(*corev1.Pod); ok {
				pods = append(pods, pod)
			}
		}
		b, err := json.Marshal(podTargets(pods, p.pods))
		if err != nil {
			return err
		}
		if !bytes.Equal(b, last) {
			if err := writeAtomic(p.file, b); err != nil {
				p.log.Error(err, "Writing the pods' scrape targets failed")
			} else {
				last = b
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(podScrapeWrite):
		}
	}
}

// writeAtomic writes b to a temporary file beside path and renames it, so that Prometheus never
// reads half a file.
func writeAtomic(path string, b []byte) error {
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", tmp, err)
	}
	return nil
}
