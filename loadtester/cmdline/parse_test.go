package cmdline

import (
	"errors"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/loadtester/load"
)

func TestParseHey(t *testing.T) {
	textHTML := http.Header{"Content-Type": {"text/html"}}
	cases := []struct {
		name string
		line string
		want load.Spec
	}{{
		name: "the Flagger docs example runs a minute at 10 rps per worker",
		line: "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
		want: load.Spec{
			HTTP: &load.HTTPTarget{URL: "http://podinfo-canary.test:9898/", Method: "GET", Header: textHTML},
			Rate: 20, Concurrency: 2, Duration: time.Minute, Timeout: 20 * time.Second,
		},
	}, {
		name: "hey defaults are 200 requests by 50 workers",
		line: "/usr/local/bin/hey http://x/",
		want: load.Spec{
			HTTP:        &load.HTTPTarget{URL: "http://x/", Method: "GET", Header: textHTML},
			Concurrency: 50, Requests: 200, Timeout: 20 * time.Second,
		},
	}, {
		name: "headers repeat, method and body and host are kept, -H wins over -T",
		line: `hey -n 10 -c 1 -m post -d '{"a": 1}' -H "Content-Type: application/json" -H 'X-Canary: insider' -host app.example.com -t 5 http://x/api`,
		want: load.Spec{
			HTTP: &load.HTTPTarget{
				URL: "http://x/api", Method: "POST", Body: []byte(`{"a": 1}`), Host: "app.example.com",
				Header: http.Header{"Content-Type": {"application/json"}, "X-Canary": {"insider"}},
			},
			Concurrency: 1, Requests: 10, Timeout: 5 * time.Second,
		},
	}, {
		name: "-z wins over -n, equals signs and double dashes parse, boolean flags apply",
		line: "hey --n=5 -c=3 -z=30s -h2 -disable-keepalive -disable-compression -disable-redirects -A text/plain https://x/",
		want: load.Spec{
			HTTP: &load.HTTPTarget{
				URL: "https://x/", Method: "GET", HTTP2: true, DisableKeepAlives: true, DisableCompression: true,
				DisableRedirects: true, Header: http.Header{"Content-Type": {"text/html"}, "Accept": {"text/plain"}},
			},
			Concurrency: 3, Duration: 30 * time.Second, Timeout: 20 * time.Second,
		},
	}, {
		name: "-h2 on a plain http URL stays HTTP/1.1, as with hey",
		line: "hey -n 1 -c 1 -h2 http://x/",
		want: load.Spec{
			HTTP:        &load.HTTPTarget{URL: "http://x/", Method: "GET", Header: textHTML},
			Concurrency: 1, Requests: 1, Timeout: 20 * time.Second,
			Notes: []string{`-h2 ignored for an http:// URL, as hey does; use a load task with http2: "true" for h2c`},
		},
	}, {
		name: "flags after the URL, basic auth, ignored flags leave a note",
		line: "hey http://x/ -n 4 -c 2 -a user:pw -cpus 2",
		want: load.Spec{
			HTTP: &load.HTTPTarget{URL: "http://x/", Method: "GET",
				Header: http.Header{"Content-Type": {"text/html"}, "Authorization": {"Basic dXNlcjpwdw=="}}},
			Concurrency: 2, Requests: 4, Timeout: 20 * time.Second,
			Notes: []string{"-cpus ignored: the generator shares the load tester's CPUs"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := Parse(c.line)
			if err != nil {
				t.Fatal(err)
			}
			if cmd.Tool != "hey" || cmd.Probe {
				t.Errorf("tool %q probe %v", cmd.Tool, cmd.Probe)
			}
			if !reflect.DeepEqual(cmd.Spec, c.want) {
				t.Errorf("spec\n got %+v %+v\nwant %+v %+v", cmd.Spec, *cmd.Spec.HTTP, c.want, *c.want.HTTP)
			}
		})
	}
}

func TestParseRejects(t *testing.T) {
	for _, line := range []string{
		"hey -z 1m",                     // no URL
		"hey -z 1m http://a/ http://b/", // two URLs
		"hey -n 10 -c 20 http://x/",     // n < c
		"hey -c 0 http://x/",            // no workers
		"hey -q -1 http://x/",           // negative rate
		"hey -z soon http://x/",         // bad duration
		"hey -D body.json http://x/",    // files
		"hey -x proxy:8080 http://x/",   // proxies
		"hey -bogus http://x/",          // unknown flag
		"hey -H novalue http://x/",      // bad header
		"hey -n",                        // missing value
		`hey "http://x/`,                // unbalanced quote
		"ghz --insecure podinfo:9999",   // no call
		"ghz --call a.B/C",              // no address
		"ghz --call a.B/C -m '[1]' x:1", // metadata not an object
		"ghz --call a.B/C --cacert c.pem x:1",
		"grpc_health_probe",
		"",
	} {
		if _, err := Parse(line); !errors.Is(err, ErrSyntax) {
			t.Errorf("Parse(%q) err = %v, want ErrSyntax", line, err)
		}
	}
	if _, err := Parse("curl -s http://x/"); !errors.Is(err, ErrNotLoad) {
		t.Errorf("curl: err = %v, want ErrNotLoad", err)
	}
}

func TestParseGHZ(t *testing.T) {
	cases := []struct {
		name string
		line string
		want load.Spec
	}{{
		name: "health check with defaults",
		line: "ghz --insecure --call grpc.health.v1.Health/Check podinfo.test:9999",
		want: load.Spec{
			GRPC:        &load.GRPCTarget{Address: "podinfo.test:9999", Call: "grpc.health.v1.Health/Check", Plaintext: true},
			Concurrency: 50, Requests: 200, Timeout: 20 * time.Second,
		},
	}, {
		name: "health check with a service name, a duration and a total rate",
		line: `ghz --insecure --call grpc.health.v1.Health.Check -d '{"service":"podinfo"}' -z 30s -c 4 --rps 40 -m '{"x-canary":"1"}' x:1`,
		want: load.Spec{
			GRPC: &load.GRPCTarget{Address: "x:1", Call: "grpc.health.v1.Health.Check", Service: "podinfo", Plaintext: true,
				Metadata: map[string]string{"x-canary": "1"}},
			Rate: 40, Concurrency: 4, Duration: 30 * time.Second, Timeout: 20 * time.Second,
		},
	}, {
		name: "generic call with an empty message over TLS",
		line: "ghz --skipTLS --call helloworld.Greeter.SayHello -d '{}' -n 10 -c 2 --proto greeter.proto x:443",
		want: load.Spec{
			GRPC:        &load.GRPCTarget{Address: "x:443", Call: "helloworld.Greeter.SayHello", InsecureSkipVerify: true},
			Concurrency: 2, Requests: 10, Timeout: 20 * time.Second,
			Notes: []string{"descriptor flags ignored: the built-in generator needs none"},
		},
	}, {
		name: "generic call with data falls back to the health check",
		line: `ghz --insecure --call helloworld.Greeter.SayHello -d '{"name":"Joe"}' -n 10 -x 5s x:1`,
		want: load.Spec{
			GRPC:        &load.GRPCTarget{Address: "x:1", Call: load.HealthCheckCall, Plaintext: true},
			Concurrency: 50, Requests: 10, Duration: 5 * time.Second, Timeout: 20 * time.Second,
			Notes: []string{"call helloworld.Greeter.SayHello with a non-empty -d needs proto descriptors; sent grpc.health.v1.Health/Check to the same address instead"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cmd, err := Parse(c.line)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(cmd.Spec, c.want) {
				t.Errorf("spec\n got %+v %+v\nwant %+v %+v", cmd.Spec, *cmd.Spec.GRPC, c.want, *c.want.GRPC)
			}
		})
	}
}

func TestParseProbe(t *testing.T) {
	cmd, err := Parse("grpc_health_probe -addr=podinfo.test:9999 -service podinfo -rpc-timeout 2s -rpc-header 'X-A: b'")
	if err != nil {
		t.Fatal(err)
	}
	want := load.Spec{
		GRPC: &load.GRPCTarget{Address: "podinfo.test:9999", Call: load.HealthCheckCall, Service: "podinfo",
			Plaintext: true, Metadata: map[string]string{"x-a": "b"}},
		Concurrency: 1, Requests: 1, Timeout: 3 * time.Second,
	}
	if !cmd.Probe || !reflect.DeepEqual(cmd.Spec, want) {
		t.Errorf("probe %v spec %+v %+v", cmd.Probe, cmd.Spec, *cmd.Spec.GRPC)
	}
}
