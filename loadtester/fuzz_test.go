package loadtester

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"

	"github.com/siskin-dev/siskin/loadtester/cmdline"
	"github.com/siskin-dev/siskin/loadtester/gate"
	"github.com/siskin-dev/siskin/loadtester/load"
)

var decodeSeeds = []string{
	`{"name":"podinfo","namespace":"test","checksum":"rev1","metadata":{"cmd":"hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"cmd":"hey -z 1m -c 100000 http://podinfo-canary.test/"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"cmd":"hey -z 1m -c 9223372036854775807 http://podinfo-canary.test/"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"type":"load","url":"http://db.other:5432/","rps":"NaN"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"type":"load","url":"http://podinfo.test/","rps":"1e400","duration":"1000h"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"type":"load","url":"http://podinfo.test/","header.Host":"x.other","timeout":"-1s"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"type":"grpc-health","address":"unix:///var/run/x"}}`,
	`{"name":"podinfo","namespace":"test","metadata":{"cmd":"ghz --insecure --call a.B/C -c 5000 -z 1m podinfo.test:9999"}}`,
	`{"name":"podinfo","namespace":"prod","metadata":{"type":"load","url":"http://podinfo.test/","maxP99Ms":"-1"}}`,
	`{"name":"Pod_Info","namespace":"test","checksum":"r 1"}`,
	`{"name":"podinfo","namespace":"test","checksum":"` + "\u0000" + `"}`,
	`{`, ``, `null`, `[]`, `{"metadata":{"type":"load"}}`,
}

// FuzzDecode: whatever the body, decoding and admitting a request never panics, and a load
// that is admitted stays within every limit and inside the payload's namespace.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	s, err := New(Options{Namespaces: regexp.MustCompile(`^(?:test|staging)$`), MaxConcurrency: 100, MaxRate: 500})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(s.Close)
	f.Fuzz(func(t *testing.T, body []byte, needCanary bool) {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/", bytes.NewReader(body))
		p, code, err := s.decode(httptest.NewRecorder(), req, needCanary)
		if err != nil {
			if code < 400 || code > 499 {
				t.Fatalf("refusal %v has status %d", err, code)
			}
			return
		}
		if needCanary && (p.Name == "" || !s.opts.Namespaces.MatchString(p.Namespace)) {
			t.Fatalf("decode let %q through", p.canary())
		}
		for _, kind := range []gate.Kind{gate.Promotion, gate.Rollback} {
			_ = gate.Key{Kind: kind, Namespace: p.Namespace, Name: p.Name, Revision: p.Checksum}.Validate()
		}
		_, _ = parseBounds(p.Metadata)
		spec, ok := fuzzSpec(p.Metadata)
		if !ok {
			return
		}
		admitted, code, err := s.admitLoad(spec, p.Namespace)
		if err != nil {
			if code != http.StatusBadRequest && code != http.StatusForbidden {
				t.Fatalf("refusal %v has status %d", err, code)
			}
			return
		}
		o := s.opts
		if admitted.Concurrency < 1 || admitted.Concurrency > o.MaxConcurrency || !(admitted.Rate <= o.MaxRate) ||
			admitted.Duration > o.MaxLoadDuration || admitted.Timeout > o.MaxLoadDuration {
			t.Fatalf("admitted %+v beyond the limits", admitted)
		}
		if err := s.checkTarget(admitted, p.Namespace); err != nil {
			t.Fatalf("admitted a load the target check refuses: %v", err)
		}
	})
}

// fuzzSpec builds the load spec of metadata the way runTask does.
func fuzzSpec(md map[string]string) (load.Spec, bool) {
	switch md["type"] {
	case "", typeCmd:
		c, err := cmdline.Parse(md["cmd"])
		return c.Spec, err == nil
	case typeLoad:
		spec, _, err := loadSpec(md)
		return spec, err == nil
	case typeGRPCHealth:
		spec, err := grpcHealthSpec(md)
		return spec, err == nil
	}
	return load.Spec{}, false
}
