package loadtester

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/loadtester/load"
)

func TestLoadSpecFromMetadata(t *testing.T) {
	cases := []struct {
		name string
		md   map[string]string
		want load.Spec
	}{{
		name: "a URL alone runs for a minute",
		md:   map[string]string{"url": "http://x/"},
		want: load.Spec{HTTP: &load.HTTPTarget{URL: "http://x/", Header: http.Header{}}, Duration: time.Minute},
	}, {
		name: "every field",
		md: map[string]string{
			"url": "https://x/api", "method": "post", "body": "{}", "host": "app.example.com",
			"header.X-Canary": "insider", "rps": "25.5", "concurrency": "3", "duration": "30s", "timeout": "2s",
			"http2": "true", "insecureSkipVerify": "true",
		},
		want: load.Spec{
			HTTP: &load.HTTPTarget{URL: "https://x/api", Method: "POST", Body: []byte("{}"), Host: "app.example.com",
				Header: http.Header{"X-Canary": {"insider"}}, HTTP2: true, InsecureSkipVerify: true},
			Rate: 25.5, Concurrency: 3, Duration: 30 * time.Second, Timeout: 2 * time.Second,
		},
	}, {
		name: "a request count without a duration is not cut at a minute",
		md:   map[string]string{"url": "http://x/", "requests": "500"},
		want: load.Spec{HTTP: &load.HTTPTarget{URL: "http://x/", Header: http.Header{}}, Requests: 500},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, probe, err := loadSpec(c.md)
			if err != nil || probe {
				t.Fatalf("err %v probe %v", err, probe)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("\n got %+v %+v\nwant %+v %+v", got, *got.HTTP, c.want, *c.want.HTTP)
			}
		})
	}
	for _, bad := range []map[string]string{
		{"url": "http://x/", "rps": "many"},
		{"url": "http://x/", "duration": "10"},
		{"url": "http://x/", "http2": "yes please"},
		{"cmd": "curl http://x/"},
	} {
		if _, _, err := loadSpec(bad); err == nil {
			t.Errorf("loadSpec(%v) accepted", bad)
		}
	}
}

func TestParseBounds(t *testing.T) {
	b, err := parseBounds(map[string]string{"maxErrorRate": "1.5", "maxP50Ms": "10", "maxP90Ms": "20",
		"maxP99Ms": "30", "minRequests": "100", "other": "x"})
	if err != nil {
		t.Fatal(err)
	}
	if *b.MaxErrorRate != 1.5 || *b.MaxP50Ms != 10 || *b.MaxP90Ms != 20 || *b.MaxP99Ms != 30 || *b.MinRequests != 100 {
		t.Errorf("bounds %+v", b)
	}
	if b, _ := parseBounds(map[string]string{"url": "x"}); b.Declared() {
		t.Error("bounds declared without any bound key")
	}
	for _, bad := range []map[string]string{{"maxErrorRate": "-1"}, {"maxP99Ms": "1s"}, {"minRequests": "1.5"}} {
		if _, err := parseBounds(bad); err == nil {
			t.Errorf("parseBounds(%v) accepted", bad)
		}
	}
	r := load.Result{Requests: 50, ErrorRate: 2, P50Ms: 11, P90Ms: 5, P99Ms: 31}
	b, _ = parseBounds(map[string]string{"maxErrorRate": "1", "maxP50Ms": "10", "maxP99Ms": "30", "minRequests": "100"})
	if got := b.Check(r); len(got) != 4 {
		t.Errorf("violations %q, want four", got)
	}
}
