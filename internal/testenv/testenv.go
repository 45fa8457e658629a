// Package testenv starts a real Kubernetes API server (etcd and kube-apiserver from bin/, through
// envtest) with Siskin's CRDs and the Istio, Gateway API, Contour, KEDA ScaledObject and Traefik
// IngressRoute and TraefikService CRDs installed, for integration tests.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/siskin-dev/siskin/pkg/router/all"
)

// ErrNoAssets means the API server binaries are missing: run `make tools`.
var ErrNoAssets = errors.New("kube-apiserver and etcd not found: run `make tools` or set KUBEBUILDER_ASSETS")

// serviceIPRange is the test API server's Service IP range: room for 65,536 Services.
const serviceIPRange = "10.0.0.0/16"

// Env is a running API server.
type Env struct {
	env    *envtest.Environment
	Config *rest.Config
	Scheme *k8sruntime.Scheme
}

// RepoRoot is the root of the Siskin repository.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Scheme returns a scheme with every kind Siskin reads or writes.
func Scheme() (*k8sruntime.Scheme, error) {
	return all.Scheme()
}

// CRDPaths lists Siskin's CRDs, the Istio, Gateway API and Contour CRDs from their Go modules,
// KEDA's ScaledObject CRD (KEDACRD) and Traefik's IngressRoute and TraefikService CRDs
// (TraefikCRDs).
func CRDPaths() ([]string, error) {
	root := RepoRoot()
	keda, err := KEDACRD(context.Background(), root)
	if err != nil {
		return nil, err
	}
	istio, err := ModuleDir(context.Background(), root, "istio.io/api")
	if err != nil {
		return nil, err
	}
	gw, err := ModuleDir(context.Background(), root, "sigs.k8s.io/gateway-api")
	if err != nil {
		return nil, err
	}
	contour, err := ModuleDir(context.Background(), root, "github.com/projectcontour/contour")
	if err != nil {
		return nil, err
	}
	traefik, err := TraefikCRDs(context.Background(), root)
	if err != nil {
		return nil, err
	}
	return append([]string{
		filepath.Join(root, "config", "crd", "bases"),
		filepath.Join(istio, "kubernetes", "customresourcedefinitions.gen.yaml"),
		filepath.Join(gw, "config", "crd", "standard"),
		filepath.Join(contour, "examples", "contour", "01-crds.yaml"),
		keda,
	}, traefik...), nil
}

// KEDAModule is the KEDA release whose ScaledObject CRD the tests install.
const KEDAModule = "github.com/kedacore/keda/v2@v2.21.1"

// kedaCRDFile is the ScaledObject CRD's path inside KEDA's module.
const kedaCRDFile = "config/crd/bases/keda.sh_scaledobjects.yaml"

// KEDACRD returns the path of KEDA's ScaledObject CRD, extracted into .state/crds/keda/ from
// the zip of KEDA's module, which `go mod download` fetches through the module proxy. KEDA is not
// a dependency (its module needs a newer Go to build): only its zip is read, never compiled.
// The go command checks the zip against go.sum's checksum database when it downloads it.
func KEDACRD(ctx context.Context, root string) (string, error) {
	files, err := moduleFiles(ctx, root, KEDAModule, []string{kedaCRDFile}, filepath.Join(root, ".state", "crds", "keda"))
	if err != nil {
		return "", err
	}
	return files[0], nil
}

// Start starts etcd and kube-apiserver and installs the CRDs.
func Start() (*Env, error) {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(RepoRoot(), "bin")
	}
	for _, b := range []string{"etcd", "kube-apiserver"} {
		if _, err := os.Stat(filepath.Join(assets, b)); err != nil {
			return nil, ErrNoAssets
		}
	}
	paths, err := CRDPaths()
	if err != nil {
		return nil, err
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	e := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     paths,
		ErrorIfCRDPathMissing: true,
		Scheme:                scheme,
	}
	// Each Canary of a test makes three Services, and no namespace is ever deleted (no
	// namespace controller runs): envtest's default range of 256 Service IPs ran out in one
	// package's run ("failed to allocate a serviceIP: range is full").
	e.ControlPlane.GetAPIServer().Configure().Set("service-cluster-ip-range", serviceIPRange)
	cfg, err := e.Start()
	if err != nil {
		return nil, fmt.Errorf("start envtest: %w", err)
	}
	return &Env{env: e, Config: cfg, Scheme: scheme}, nil
}

// Stop stops the API server and etcd.
func (e *Env) Stop() error {
	return e.env.Stop()
}

// ModuleDir returns the directory of a module of the repository at root, from the module cache.
func ModuleDir(ctx context.Context, root, module string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", module)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("find module %s: %w", module, err)
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("module %s is not downloaded: run go mod download", module)
	}
	return dir, nil
}
