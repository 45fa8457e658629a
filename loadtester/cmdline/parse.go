package cmdline

import (
	"errors"
	"fmt"
	"path"

	"github.com/siskin-dev/siskin/loadtester/load"
)

// ErrNotLoad is returned by Parse for a command that is not a load or probe tool, so that the
// caller can treat it as a shell task instead.
var ErrNotLoad = errors.New("not a load command")

// Command is a parsed load or probe command.
type Command struct {
	// Tool is the program name: hey, ghz or grpc_health_probe.
	Tool string
	Spec load.Spec
	// Probe is true for grpc_health_probe: one check whose result is the answer, always blocking.
	Probe bool
}

// Parse splits line and, when its program is hey, ghz or grpc_health_probe (with or without a
// directory), translates it. Other programs give ErrNotLoad; malformed lines give ErrSyntax.
func Parse(line string) (Command, error) {
	args, err := Split(line)
	if err != nil {
		return Command{}, err
	}
	if len(args) == 0 {
		return Command{}, fmt.Errorf("%w: empty command", ErrSyntax)
	}
	tool := path.Base(args[0])
	var spec load.Spec
	switch tool {
	case "hey":
		spec, err = parseHey(args)
	case "ghz":
		spec, err = parseGHZ(args)
	case "grpc_health_probe":
		spec, err = parseProbe(args)
	default:
		return Command{}, fmt.Errorf("%w: %s", ErrNotLoad, tool)
	}
	if err != nil {
		return Command{}, err
	}
	return Command{Tool: tool, Spec: spec, Probe: tool == "grpc_health_probe"}, nil
}
