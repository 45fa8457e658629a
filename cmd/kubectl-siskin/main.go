// Command kubectl-siskin is the kubectl plugin of Siskin: it shows, steers and waits for the
// rollouts of Canaries with the user's own kubeconfig. Install it with
//
//	go install github.com/siskin-dev/siskin/cmd/kubectl-siskin@latest
//
// and call it as `kubectl siskin`. The commands live in internal/cli; docs/cli.md describes
// them and their exit codes.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/siskin-dev/siskin/internal/cli"
)

// extensions are commands that other files of this package add (the dashboard), each from an
// init function.
var extensions []cli.Extension

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	o := cli.NewOptions()
	code := cli.Execute(ctx, cli.NewRoot(o, extensions...), os.Args[1:], o.Streams.ErrOut)
	stop()
	os.Exit(code)
}
