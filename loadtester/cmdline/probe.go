package cmdline

import (
	"fmt"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/loadtester/load"
)

// parseProbe translates a grpc_health_probe command line into a single health check.
func parseProbe(args []string) (load.Spec, error) {
	var (
		addr, service       string
		connect, rpc        = time.Second, time.Second
		useTLS, tlsNoVerify bool
		notes               []string
		md                  = map[string]string{}
	)
	opts := []option{
		{names: []string{"addr"}, set: stringVar(&addr)},
		{names: []string{"service"}, set: stringVar(&service)},
		{names: []string{"connect-timeout"}, set: durationVar(&connect)},
		{names: []string{"rpc-timeout"}, set: durationVar(&rpc)},
		{names: []string{"tls"}, boolean: true, set: boolVar(&useTLS)},
		{names: []string{"tls-no-verify"}, boolean: true, set: boolVar(&tlsNoVerify)},
		{names: []string{"user-agent"}, set: ignored(&notes, "-user-agent ignored")},
		{names: []string{"v", "alts", "spiffe", "gzip"}, boolean: true, set: ignored(&notes, "grpc_health_probe -v, -alts, -spiffe and -gzip ignored")},
		{names: []string{"rpc-header"}, set: func(v string) error {
			k, val, ok := strings.Cut(v, ":")
			if !ok {
				return fmt.Errorf("header %q is not \"name: value\"", v)
			}
			md[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(val)
			return nil
		}},
		{names: []string{"tls-ca-cert", "tls-client-cert", "tls-client-key", "tls-server-name"}, set: unsupported("custom TLS certificates")},
	}
	pos, err := parseFlags("grpc_health_probe", args[1:], opts)
	if err != nil {
		return load.Spec{}, err
	}
	if addr == "" || len(pos) > 0 {
		return load.Spec{}, fmt.Errorf("%w: grpc_health_probe: -addr is required and takes no arguments", ErrSyntax)
	}
	return load.Spec{
		GRPC: &load.GRPCTarget{
			Address: addr, Call: load.HealthCheckCall, Service: service,
			Plaintext: !useTLS, InsecureSkipVerify: tlsNoVerify, Metadata: md,
		},
		Concurrency: 1,
		Requests:    1,
		Timeout:     connect + rpc,
		Notes:       notes,
	}, nil
}
