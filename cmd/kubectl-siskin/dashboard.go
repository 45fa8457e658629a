package main

import (
	"net"
	"strconv"

	"github.com/spf13/cobra"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/internal/cli"
	"github.com/siskin-dev/siskin/pkg/dashboard"
)

func init() {
	extensions = append(extensions, newDashboardCommand)
}

// newDashboardCommand serves the web dashboard on loopback with the user's kubeconfig.
func newDashboardCommand(o *cli.Options) *cobra.Command {
	var (
		port     int
		address  string
		all      bool
		provider string
	)
	cmd := &cobra.Command{
		Use:   "dashboard",
		Short: "Serve a live web dashboard of Canaries on loopback, with your kubeconfig",
		Long: `Serve Siskin's web dashboard on loopback: every Canary with its phase, weight and health, and
per Canary the timeline of its rollout, charts of its metrics against their bounds and of the
traffic split, the objects it owns, and buttons for the next step, promote, abort, retry,
pause and resume.

The dashboard acts with your own kubeconfig, so it shows and does what your RBAC allows, and
runs nothing in the cluster. It prints its address, with a token for this run, and opens
nothing itself: open the address in a browser. It stops on Ctrl-C.`,
		Example: `  kubectl siskin dashboard -A
  kubectl siskin dashboard -n shop --port 8700`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := o.Config()
			if err != nil {
				return err
			}
			ns := ""
			if !all {
				if ns, err = o.Namespace(); err != nil {
					return err
				}
			}
			return dashboard.Run(cmd.Context(), cfg, dashboard.Options{
				Mode:            dashboard.ModeLocal,
				Addr:            net.JoinHostPort(address, strconv.Itoa(port)),
				Namespace:       ns,
				DefaultProvider: provider,
				Out:             o.Streams.Out,
			})
		},
	}
	cmd.Flags().IntVar(&port, "port", 0, "port to listen on (0: any free port)")
	cmd.Flags().StringVar(&address, "address", "127.0.0.1", "loopback address to listen on")
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "show the Canaries of every namespace")
	cmd.Flags().StringVar(&provider, "provider", siskinv1.ProviderIstio, "the controller's --provider: the router of a Canary that names none (for the steps shown)")
	return cmd
}
