// Command siskin-dashboard serves Siskin's web dashboard inside a cluster (the Helm chart's
// dashboardServer, off by default). Callers present a Kubernetes bearer token, checked by a
// TokenReview; every read and every action is authorised by a SubjectAccessReview as the
// caller before the dashboard does it with its own service account. For one person on a
// laptop, `kubectl siskin dashboard` serves the same pages with their own kubeconfig.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/dashboard"
)

func main() {
	var (
		addr      string
		namespace string
		certFile  string
		keyFile   string
		provider  string
	)
	flag.StringVar(&addr, "address", ":8443", "address to serve the dashboard on")
	flag.StringVar(&namespace, "namespace", "", "show only this namespace's Canaries (default: all namespaces)")
	flag.StringVar(&provider, "provider", siskinv1.ProviderIstio, "the controller's --provider: the router of a Canary that names none (for the steps shown)")
	flag.StringVar(&certFile, "tls-cert-file", "", "serve HTTPS with this certificate (PEM)")
	flag.StringVar(&keyFile, "tls-key-file", "", "key of --tls-cert-file (PEM)")
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&zapOpts)))
	if (certFile == "") != (keyFile == "") {
		fmt.Fprintln(os.Stderr, "siskin-dashboard: --tls-cert-file and --tls-key-file go together")
		os.Exit(2)
	}

	cfg, err := ctrl.GetConfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, "siskin-dashboard:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err = dashboard.Run(ctx, cfg, dashboard.Options{
		Mode: dashboard.ModeInCluster, Addr: addr, Namespace: namespace, DefaultProvider: provider,
		TLSCertFile: certFile, TLSKeyFile: keyFile, Out: os.Stdout,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "siskin-dashboard:", err)
		os.Exit(1)
	}
}
