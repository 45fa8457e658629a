package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/siskin-dev/siskin/pkg/router/all"
)

// Options are what every command shares: the kubeconfig flags, the streams, the clock.
type Options struct {
	// Flags are kubectl's kubeconfig, context, namespace and server flags.
	Flags *genericclioptions.ConfigFlags
	// Streams are stdin, stdout and stderr.
	Streams genericiooptions.IOStreams
	// Now is the clock used for ages and "due in" (tests fix it).
	Now func() time.Time
	// RESTConfig, when set, replaces the configuration the flags build (tests).
	RESTConfig func() (*rest.Config, error)
	// Terminal reports whether stdout is a terminal; nil means it is one when it is an
	// *os.File on a terminal.
	Terminal func() bool
}

// NewOptions returns the options of a process: kubectl's flags and the process's streams.
func NewOptions() *Options {
	return &Options{
		Flags:   genericclioptions.NewConfigFlags(true),
		Streams: genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr},
		Now:     time.Now,
	}
}

// Scheme returns a scheme with every kind the plugin reads.
func Scheme() (*k8sruntime.Scheme, error) {
	return all.Scheme()
}

// Config returns the REST configuration of the kubeconfig flags.
func (o *Options) Config() (*rest.Config, error) {
	if o.RESTConfig != nil {
		return o.RESTConfig()
	}
	cfg, err := o.Flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig: %w", err)
	}
	cfg.UserAgent = "kubectl-siskin/" + version
	return cfg, nil
}

// Client returns a client, with watches, for the cluster of the kubeconfig flags.
func (o *Options) Client() (client.WithWatch, error) {
	cfg, err := o.Config()
	if err != nil {
		return nil, err
	}
	scheme, err := Scheme()
	if err != nil {
		return nil, err
	}
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	return c, nil
}

// Namespace is the namespace of --namespace, else of the kubeconfig context, else default.
func (o *Options) Namespace() (string, error) {
	if o.Flags.Namespace != nil && *o.Flags.Namespace != "" {
		return *o.Flags.Namespace, nil
	}
	if o.RESTConfig != nil {
		return "default", nil
	}
	ns, _, err := o.Flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return "", fmt.Errorf("namespace of the kubeconfig context: %w", err)
	}
	return ns, nil
}

func (o *Options) now() time.Time {
	if o.Now == nil {
		return time.Now()
	}
	return o.Now()
}

// terminal reports whether stdout is a terminal, where redrawing makes sense.
func (o *Options) terminal() bool {
	if o.Terminal != nil {
		return o.Terminal()
	}
	return isTerminal(o.Streams.Out)
}

// version is set at build time with -ldflags "-X github.com/siskin-dev/siskin/internal/cli.version=...".
var version = "dev"

// Extension builds a command that another file of the plugin adds to the root command (the
// dashboard), with the shared options.
type Extension func(*Options) *cobra.Command

// NewRoot returns the kubectl-siskin command with every subcommand, plus the extensions.
func NewRoot(o *Options, extensions ...Extension) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-siskin",
		Short: "See, steer and wait for Siskin canary rollouts",
		Long: `kubectl-siskin shows, steers and waits for the rollouts of Siskin Canaries (siskin.dev/v1beta1).

Actions go through the annotations the controller honours (siskin.dev/promote, abort, retry,
pause, resume), or the load tester's gates (approve, close), and each waits until the
controller acknowledges it. Exit codes: 0 done,
1 error, 2 usage, 3 refused by the controller, 4 timed out, 5 rolled back, 6 stalled,
7 superseded by another revision (see docs/cli.md).`,
		Example: `  kubectl siskin list -A
  kubectl siskin get canary podinfo -w
  kubectl siskin wait podinfo --timeout 30m
  kubectl siskin promote podinfo --full
  kubectl siskin plan -f canary.yaml
  kubectl siskin convert -f flagger-canary.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.SetIn(o.Streams.In)
	root.SetOut(o.Streams.Out)
	root.SetErr(o.Streams.ErrOut)
	o.Flags.AddFlags(root.PersistentFlags())
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
		return &CodedError{Code: ExitUsage, Err: err}
	})
	_ = root.RegisterFlagCompletionFunc("namespace", completeNamespaces(o))
	root.AddCommand(
		newGetCommand(o),
		newListCommand(o),
		newWaitCommand(o),
		newPlanCommand(o),
		newConvertCommand(o),
		newGateCommand(o, true),
		newGateCommand(o, false),
	)
	for _, a := range actions {
		root.AddCommand(newActionCommand(o, a))
	}
	for _, ext := range extensions {
		root.AddCommand(ext(o))
	}
	return root
}

// Execute runs the root command with args and returns the process's exit code, after
// printing the error, if any, to stderr.
func Execute(ctx context.Context, root *cobra.Command, args []string, stderr io.Writer) int {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK
	}
	code := ExitCode(err)
	var ce *CodedError
	if !errors.As(err, &ce) && isUsageError(err) {
		code = ExitUsage
	}
	_, _ = fmt.Fprintln(stderr, "error:", err)
	return code
}

// exactArgs is cobra.ExactArgs with the usage exit code.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != n {
			return exitf(ExitUsage, "want %s, got %d argument(s)", what, len(args))
		}
		return nil
	}
}
