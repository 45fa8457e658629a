package main

import (
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/siskin-dev/siskin/e2e/localenv/podnet"
)

func TestPodTargetsListThePodsThatAskToBeScraped(t *testing.T) {
	m, err := podnet.New("10.7.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	pod := func(name, ip string, ann map[string]string, phase corev1.PodPhase, ports ...int32) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, Annotations: ann},
			Status: corev1.PodStatus{Phase: phase, PodIP: ip}}
		c := corev1.Container{Name: "app"}
		for _, port := range ports {
			c.Ports = append(c.Ports, corev1.ContainerPort{ContainerPort: port})
		}
		p.Spec.Containers = []corev1.Container{c}
		return p
	}
	scrape := map[string]string{annotationScrape: "true"}
	pods := []*corev1.Pod{
		pod("worker-b", "10.7.0.12", map[string]string{annotationScrape: "true", annotationPort: "9797", annotationPath: "/stats"}, corev1.PodRunning, 8080, 9797),
		pod("worker-a", "10.7.0.11", scrape, corev1.PodRunning, 9797),
		pod("quiet", "10.7.0.13", nil, corev1.PodRunning, 9797),
		pod("pending", "", scrape, corev1.PodPending, 9797),
		pod("elsewhere", "192.168.0.4", scrape, corev1.PodRunning, 9797),
		pod("no-port", "10.7.0.14", scrape, corev1.PodRunning),
	}
	got, err := json.Marshal(podTargets(pods, m))
	if err != nil {
		t.Fatal(err)
	}
	want := `[{"targets":["127.7.0.11:9797"],"labels":{"namespace":"ns","pod":"worker-a"}},` +
		`{"targets":["127.7.0.12:9797"],"labels":{"__metrics_path__":"/stats","namespace":"ns","pod":"worker-b"}}]`
	if string(got) != want {
		t.Errorf("targets\n got %s\nwant %s", got, want)
	}
	if got, _ := json.Marshal(podTargets(nil, m)); string(got) != "[]" {
		t.Errorf("no pods gave %s; Prometheus wants an empty list", got)
	}
}
