package prometheus

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// Pool keeps one Client per distinct provider configuration (address, headers, credentials,
// TLS), so every check of every canary that uses the same server shares one client and its
// connections. A client no check asked for during Options.IdleTTL is dropped, which also
// retires the client of rotated credentials. It is safe for concurrent use.
type Pool struct {
	opts Options

	mu      sync.Mutex
	clients map[string]*pooled
}

type pooled struct {
	client   *Client
	lastUsed time.Time
}

var _ metrics.Providers = (*Pool)(nil)

// NewPool returns an empty Pool whose clients use opts.
func NewPool(opts Options) *Pool {
	return &Pool{opts: opts.withDefaults(), clients: map[string]*pooled{}}
}

// Provider implements metrics.Providers.
func (p *Pool) Provider(cfg metrics.ProviderConfig) (metrics.Provider, error) {
	c, err := p.Client(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Client returns the pool's client for cfg, building it on first use.
func (p *Pool) Client(cfg metrics.ProviderConfig) (*Client, error) {
	key := configKey(cfg)
	now := p.opts.Now()

	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropIdle(now)
	if e, ok := p.clients[key]; ok {
		e.lastUsed = now
		return e.client, nil
	}
	c, err := New(cfg, p.opts)
	if err != nil {
		return nil, err
	}
	p.clients[key] = &pooled{client: c, lastUsed: now}
	return c, nil
}

// Len returns the number of clients in the pool.
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.clients)
}

// dropIdle removes the clients unused for IdleTTL. The caller holds p.mu.
func (p *Pool) dropIdle(now time.Time) {
	for k, e := range p.clients {
		if now.Sub(e.lastUsed) < p.opts.IdleTTL {
			continue
		}
		// A query still running on it finishes; only idle connections close.
		if e.client.closeIdle != nil {
			e.client.closeIdle()
		}
		delete(p.clients, k)
	}
}

// configKey identifies cfg by a hash of everything that makes a client differ, so the pool's
// keys hold no credentials.
func configKey(cfg metrics.ProviderConfig) string {
	headers := make(map[string][]string, len(cfg.Headers))
	for k, vs := range cfg.Headers {
		k = http.CanonicalHeaderKey(k)
		headers[k] = append(headers[k], vs...)
	}
	typ := cfg.Type
	if typ == "" {
		typ = "prometheus"
	}
	// encoding/json writes map keys sorted, so equal configurations encode equally.
	b, err := json.Marshal(struct {
		Type, Address             string
		Headers                   map[string][]string
		Token, Username, Password string
		Insecure                  bool
	}{typ, strings.TrimRight(cfg.Address, "/"), headers, cfg.BearerToken, cfg.Username, cfg.Password, cfg.InsecureSkipVerify})
	if err != nil {
		panic("encode provider configuration: " + err.Error()) // strings, maps and a bool always encode
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
