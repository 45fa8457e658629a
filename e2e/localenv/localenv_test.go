package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestCRDFilesHoldSiskinIstioGatewayAPIAndKEDA(t *testing.T) {
	files, err := crdFiles(context.Background(), findRepo())
	if err != nil {
		t.Fatal(err)
	}
	crds, err := readCRDs(files)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, c := range crds {
		names[c.GetName()] = true
	}
	for _, want := range []string{"canaries.siskin.dev", "virtualservices.networking.istio.io", "destinationrules.networking.istio.io",
		"httproutes.gateway.networking.k8s.io", "gateways.gateway.networking.k8s.io", "scaledobjects.keda.sh"} {
		if !names[want] {
			t.Errorf("CRD %s missing from %d CRDs", want, len(crds))
		}
	}
}

func TestResetStateDirRefusesAForeignDirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := resetStateDir(dir); err == nil {
		t.Fatal("a directory that is not a localenv state directory was cleared")
	}
	if _, err := os.Stat(filepath.Join(dir, "precious.txt")); err != nil {
		t.Fatal("the file is gone")
	}
	state := t.TempDir()
	if err := os.MkdirAll(filepath.Join(state, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(state, "old.log"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := resetStateDir(state); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(state, "old.log")); !os.IsNotExist(err) {
		t.Error("a previous run's files were kept")
	}
}

// TestPrometheusConfigIsValid checks the generated configuration, the pod discovery job with it,
// with Prometheus's own promtool when it is installed.
func TestPrometheusConfigIsValid(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	dir := t.TempDir()
	s := &supervisor{o: options{stateDir: dir}, ports: map[string]int{"dataplane": 1234}}
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := s.prometheusConfig()
	if err := os.WriteFile(cfg, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.CommandContext(context.Background(), promtool, "check", "config", cfg).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config: %v\n%s\n%s", err, out, conf)
	}
	for _, want := range []string{"job_name: pods", filepath.Join(dir, "prometheus", "pods", "*.json")} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
}
