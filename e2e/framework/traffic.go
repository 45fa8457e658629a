package framework

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/siskin-dev/siskin/e2e/slacksink"
)

// httpClient talks to the local environment's own endpoints; it never uses a proxy from the
// environment.
var httpClient = &http.Client{
	Timeout:   10 * time.Second,
	Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 32, IdleConnTimeout: 30 * time.Second},
}

// Response is what the test app answered through the data plane.
type Response struct {
	Code int
	// Version is the app's X-App-Version header: the VERSION of the pod that answered.
	Version string
	// Body is the start of the answer of a request that was not answered 2xx.
	Body string
}

// Get sends GET path with the given Host through the data plane, as a mesh or gateway client
// would.
func (e *Env) Get(ctx context.Context, host, path string, header http.Header) (Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.Info.Dataplane.URL+path, nil)
	if err != nil {
		return Response{}, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Host = host
	resp, err := httpClient.Do(req)
	if err != nil {
		return Response{}, err
	}
	out := Response{Code: resp.StatusCode, Version: resp.Header.Get("X-App-Version")}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		out.Body = strings.TrimSpace(string(b))
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return out, nil
}

// Traffic is a client that sends requests through the data plane at a steady rate and counts
// the answers, like the users of the app.
type Traffic struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	stats TrafficStats
}

// TrafficStats counts the answers seen.
type TrafficStats struct {
	Total int
	// Failed counts transport errors and answers other than 2xx.
	Failed int
	// Refused counts the failures where the data plane could connect neither to the pod it
	// picked nor, on its one retry, to another endpoint of the destination (503 "upstream connect
	// error"): in the local environment a deleted pod stops answering at once, possibly before
	// the data plane learns it is gone.
	Refused int
	// Codes counts answers by status code (0: transport error).
	Codes map[int]int
	// Versions counts 2xx answers by app version.
	Versions map[string]int
	// FirstFailure describes the first failure seen.
	FirstFailure string
	// FirstSent is, per app version, when the first request it answered was sent.
	FirstSent map[string]time.Time
}

// String summarises the stats: "200 requests, 0 failed; 1.0.0 80%, 1.1.0 20%".
func (s TrafficStats) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d requests, %d failed", s.Total, s.Failed)
	ok := 0
	for _, n := range s.Versions {
		ok += n
	}
	if ok > 0 {
		vs := make([]string, 0, len(s.Versions))
		for v := range s.Versions {
			vs = append(vs, v)
		}
		sort.Strings(vs)
		b.WriteString(";")
		for _, v := range vs {
			fmt.Fprintf(&b, " %s %d%%", v, (s.Versions[v]*100+ok/2)/ok)
		}
	}
	return b.String()
}

func newStats() TrafficStats {
	return TrafficStats{Codes: map[int]int{}, Versions: map[string]int{}, FirstSent: map[string]time.Time{}}
}

// Add adds the counts of o to s.
func (s *TrafficStats) Add(o TrafficStats) {
	s.Total += o.Total
	s.Failed += o.Failed
	s.Refused += o.Refused
	if s.Codes == nil {
		s.Codes = map[int]int{}
	}
	if s.Versions == nil {
		s.Versions = map[string]int{}
	}
	for k, v := range o.Codes {
		s.Codes[k] += v
	}
	for k, v := range o.Versions {
		s.Versions[k] += v
	}
	if s.FirstFailure == "" {
		s.FirstFailure = o.FirstFailure
	}
	if s.FirstSent == nil {
		s.FirstSent = map[string]time.Time{}
	}
	for k, v := range o.FirstSent {
		if f, ok := s.FirstSent[k]; !ok || v.Before(f) {
			s.FirstSent[k] = v
		}
	}
}

// StartTraffic sends rps requests a second for path / with host through the data plane until
// Stop.
func (e *Env) StartTraffic(ctx context.Context, host string, rps int, header http.Header) *Traffic {
	ctx, cancel := context.WithCancel(ctx)
	t := &Traffic{cancel: cancel, done: make(chan struct{})}
	t.stats = newStats()
	go func() {
		defer close(t.done)
		tick := time.NewTicker(time.Second / time.Duration(rps))
		defer tick.Stop()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
				defer rcancel()
				sent := time.Now()
				r, err := e.Get(rctx, host, "/", header)
				t.record(sent, r, err)
			}()
		}
	}()
	return t
}

func (t *Traffic) record(sent time.Time, r Response, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.stats.Total++
	if err != nil || r.Code < 200 || r.Code > 299 {
		t.stats.Failed++
		t.stats.Codes[r.Code]++
		if r.Code == http.StatusServiceUnavailable && strings.HasPrefix(r.Body, "upstream connect error") {
			t.stats.Refused++
		}
		if t.stats.FirstFailure == "" {
			if err != nil {
				t.stats.FirstFailure = fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err)
			} else {
				t.stats.FirstFailure = fmt.Sprintf("%s: answered %d %q", time.Now().Format("15:04:05.000"), r.Code, r.Body)
			}
		}
		return
	}
	t.stats.Codes[r.Code]++
	t.stats.Versions[r.Version]++
	if f, ok := t.stats.FirstSent[r.Version]; !ok || sent.Before(f) {
		t.stats.FirstSent[r.Version] = sent
	}
}

// Take returns the stats since the last Take (or the start) and starts counting afresh.
func (t *Traffic) Take() TrafficStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.stats
	t.stats = newStats()
	return s
}

// Stop stops sending, waits for the requests in flight and returns the stats since the last
// Take.
func (t *Traffic) Stop() TrafficStats {
	t.cancel()
	<-t.done
	return t.Take()
}

// SlackMessages returns the Slack sink's messages about the Canary ns/name (every message when
// both are empty), oldest first.
func (e *Env) SlackMessages(ctx context.Context, ns, name string) ([]slacksink.Message, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.Info.Slack.Messages, nil)
	if err != nil {
		return nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("read Slack sink: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	var all []slacksink.Message
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&all); err != nil {
		return nil, fmt.Errorf("decode Slack sink messages: %w", err)
	}
	if ns == "" && name == "" {
		return all, nil
	}
	prefix := ns + "/" + name + ":"
	var out []slacksink.Message
	for _, m := range all {
		if strings.HasPrefix(m.Text, prefix) {
			out = append(out, m)
		}
	}
	return out, nil
}

// Gate calls a load tester gate endpoint (for example "gate/open", "gate/close",
// "rollback/open") for the Canary ns/name and returns the status code.
func (e *Env) Gate(ctx context.Context, endpoint, ns, name string) (int, error) {
	if e.Info.Loadtester == "" {
		return 0, fmt.Errorf("the local environment runs no load tester")
	}
	body, _ := json.Marshal(map[string]string{"name": name, "namespace": ns})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.Info.Loadtester+"/"+strings.TrimPrefix(endpoint, "/"), bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("call load tester %s: %w", endpoint, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}
