package prometheus

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

func TestPoolReusesOneClientPerConfiguration(t *testing.T) {
	p := NewPool(Options{})
	base := metrics.ProviderConfig{Address: "http://prom:9090", BearerToken: "t", Headers: http.Header{"X-Org": {"a"}}}

	c1, err := p.Client(base)
	if err != nil {
		t.Fatal(err)
	}
	same := []metrics.ProviderConfig{
		base,
		{Type: "prometheus", Address: "http://prom:9090/", BearerToken: "t", Headers: http.Header{"X-Org": {"a"}}},
		{Address: "http://prom:9090", BearerToken: "t", Headers: map[string][]string{"x-org": {"a"}}},
	}
	for _, cfg := range same {
		c, err := p.Client(cfg)
		if err != nil || c != c1 {
			t.Errorf("Client(%s) built a new client, want the pooled one", dumpCfg(cfg))
		}
	}
	different := []metrics.ProviderConfig{
		{Address: "http://prom:9091", BearerToken: "t", Headers: http.Header{"X-Org": {"a"}}},
		{Address: "http://prom:9090", BearerToken: "rotated", Headers: http.Header{"X-Org": {"a"}}},
		{Address: "http://prom:9090", Username: "t", Headers: http.Header{"X-Org": {"a"}}},
		{Address: "http://prom:9090", BearerToken: "t", Headers: http.Header{"X-Org": {"b"}}},
		{Address: "http://prom:9090", BearerToken: "t"},
		{Address: "http://prom:9090", BearerToken: "t", Headers: http.Header{"X-Org": {"a"}}, InsecureSkipVerify: true},
	}
	for i, cfg := range different {
		c, err := p.Client(cfg)
		if err != nil || c == c1 {
			t.Errorf("Client(%s) shared the client of a different configuration", dumpCfg(cfg))
		}
		if p.Len() != i+2 {
			t.Errorf("Len = %d, want %d", p.Len(), i+2)
		}
	}

	// Provider hands out the same pooled clients.
	prov, err := p.Provider(base)
	if err != nil || prov.(*Client) != c1 {
		t.Errorf("Provider(base) = %v, %v; want the pooled client", prov, err)
	}
	if _, err := p.Provider(metrics.ProviderConfig{Address: "not a url"}); err == nil {
		t.Errorf("Provider of a bad address = nil error")
	}
}

func TestPoolBuildsOneClientUnderConcurrentUse(t *testing.T) {
	p := NewPool(Options{})
	cfg := metrics.ProviderConfig{Address: "http://prom:9090"}
	clients := make([]*Client, 16)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			c, err := p.Client(cfg)
			if err != nil {
				t.Error(err)
			}
			clients[i] = c
		})
	}
	wg.Wait()
	for _, c := range clients {
		if c != clients[0] {
			t.Fatal("concurrent callers got different clients for one configuration")
		}
	}
}

func TestPoolDropsIdleClients(t *testing.T) {
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	p := NewPool(Options{IdleTTL: time.Hour, Now: func() time.Time { return now }})
	old := metrics.ProviderConfig{Address: "http://prom:9090", BearerToken: "old"}
	kept := metrics.ProviderConfig{Address: "http://prom:9090", BearerToken: "new"}
	first, _ := p.Client(old)
	_, _ = p.Client(kept)

	now = now.Add(40 * time.Minute)
	_, _ = p.Client(kept)
	now = now.Add(40 * time.Minute) // old is 80 minutes idle, kept 40
	_, _ = p.Client(kept)
	if p.Len() != 1 {
		t.Fatalf("Len = %d, want 1: the client idle for longer than IdleTTL is dropped", p.Len())
	}
	if again, _ := p.Client(old); again == first {
		t.Errorf("a dropped client was handed out again")
	}
}

func dumpCfg(c metrics.ProviderConfig) string {
	return c.String() + " token=" + c.BearerToken + " user=" + c.Username
}
