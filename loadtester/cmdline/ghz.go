package cmdline

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/loadtester/load"
)

// ghz's own defaults.
const (
	ghzRequests    = 200
	ghzConcurrency = 50
	ghzTimeout     = 20 * time.Second
)

// parseGHZ translates a ghz command line (args[0] is the program name). Without proto
// descriptors the generator cannot encode an arbitrary request, so: the health check call is
// made with typed messages; any other call is made with an empty request message when -d is
// empty or "{}"; and a call with a non-empty -d falls back to the standard health check
// against the same address, which a note in the result says.
func parseGHZ(args []string) (load.Spec, error) {
	var (
		n, c, rps                 = ghzRequests, ghzConcurrency, 0
		z, maxDur                 time.Duration
		timeout                   = ghzTimeout
		call, data, md, authority string
		plaintext, skipTLS        bool
		notes                     []string
	)
	noDescriptors := "descriptor flags ignored: the built-in generator needs none"
	opts := []option{
		{names: []string{"call"}, set: stringVar(&call)},
		{names: []string{"insecure"}, boolean: true, set: boolVar(&plaintext)},
		{names: []string{"skipTLS"}, boolean: true, set: boolVar(&skipTLS)},
		{names: []string{"d", "data"}, set: stringVar(&data)},
		{names: []string{"m", "metadata"}, set: stringVar(&md)},
		{names: []string{"n", "total"}, set: intVar(&n)},
		{names: []string{"c", "concurrency"}, set: intVar(&c)},
		{names: []string{"r", "rps"}, set: intVar(&rps)},
		{names: []string{"z", "duration"}, set: durationVar(&z)},
		{names: []string{"x", "max-duration"}, set: durationVar(&maxDur)},
		{names: []string{"t", "timeout"}, set: durationVar(&timeout)},
		{names: []string{"authority"}, set: stringVar(&authority)},
		{names: []string{"proto", "protoset", "i", "import-paths"}, set: ignored(&notes, noDescriptors)},
		{names: []string{"connections"}, set: ignored(&notes, "--connections ignored: one connection is multiplexed")},
		{names: []string{"O", "format", "o", "output", "name", "tags"}, set: ignored(&notes, "report flags ignored: results are returned as JSON")},
		{names: []string{"D", "data-file", "b", "binary", "B", "binary-file"}, set: unsupported("request data from files or binary messages")},
		{names: []string{"cacert", "cert", "key", "cname"}, set: unsupported("custom TLS certificates")},
		{names: []string{"load-schedule", "load-start", "load-end", "load-step", "load-step-duration", "load-max-duration",
			"concurrency-schedule", "concurrency-start", "concurrency-end", "concurrency-step",
			"concurrency-step-duration", "concurrency-max-duration"}, set: unsupported("load and concurrency schedules")},
	}
	pos, err := parseFlags("ghz", args[1:], opts)
	if err != nil {
		return load.Spec{}, err
	}
	if len(pos) != 1 {
		return load.Spec{}, fmt.Errorf("%w: ghz: want exactly one host:port address, got %d arguments", ErrSyntax, len(pos))
	}
	if call == "" {
		return load.Spec{}, fmt.Errorf("%w: ghz: --call is required", ErrSyntax)
	}
	if c < 1 {
		return load.Spec{}, fmt.Errorf("%w: ghz: -c must be at least 1", ErrSyntax)
	}
	target := &load.GRPCTarget{
		Address: pos[0], Call: call, Plaintext: plaintext, InsecureSkipVerify: skipTLS, Authority: authority,
	}
	if md != "" {
		if err := json.Unmarshal([]byte(md), &target.Metadata); err != nil {
			return load.Spec{}, fmt.Errorf("%w: ghz: -m must be a JSON object of strings: %w", ErrSyntax, err)
		}
	}
	if err := applyData(target, data, &notes); err != nil {
		return load.Spec{}, err
	}
	spec := load.Spec{GRPC: target, Rate: float64(rps), Concurrency: c, Timeout: timeout, Notes: notes}
	switch {
	case z > 0:
		spec.Duration = z
	case maxDur > 0:
		spec.Requests, spec.Duration = int64(n), maxDur
	default:
		spec.Requests = int64(n)
	}
	return spec, nil
}

// applyData decides how a call's request message is sent (see parseGHZ).
func applyData(t *load.GRPCTarget, data string, notes *[]string) error {
	call := strings.ReplaceAll(strings.TrimPrefix(t.Call, "/"), "/", ".")
	if call == strings.ReplaceAll(load.HealthCheckCall, "/", ".") {
		if strings.TrimSpace(data) == "" {
			return nil
		}
		var req struct {
			Service string `json:"service"`
		}
		if err := json.Unmarshal([]byte(data), &req); err != nil {
			return fmt.Errorf("%w: ghz: -d for the health check must be {\"service\": \"...\"}: %w", ErrSyntax, err)
		}
		t.Service = req.Service
		return nil
	}
	var msg map[string]any
	if d := strings.TrimSpace(data); d == "" || (json.Unmarshal([]byte(d), &msg) == nil && len(msg) == 0) {
		return nil
	}
	*notes = append(*notes, fmt.Sprintf(
		"call %s with a non-empty -d needs proto descriptors; sent %s to the same address instead", t.Call, load.HealthCheckCall))
	t.Call = load.HealthCheckCall
	return nil
}
