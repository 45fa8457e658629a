package framework

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Snapshot is what a Canary and its route looked like at one moment.
type Snapshot struct {
	Time    time.Time
	Phase   siskinv1.CanaryPhase
	Weight  int32
	Failed  int32
	Primary int32 // weight of <name>-primary on the default route
	Canary  int32 // weight of <name>-canary on the default route
	Mirror  bool
	// Revision is status.lastAppliedSpec.
	Revision string
}

func (s Snapshot) key() string {
	return fmt.Sprintf("%s/%d/%d/%d/%d/%t/%s", s.Phase, s.Weight, s.Failed, s.Primary, s.Canary, s.Mirror, s.Revision)
}

// String is a compact line: "Progressing w=20 route 80/20 mirror".
func (s Snapshot) String() string {
	m := ""
	if s.Mirror {
		m = " mirror"
	}
	return fmt.Sprintf("%s %s w=%d failed=%d route %d/%d%s rev=%.8s", s.Time.Format("15:04:05.0"), s.Phase, s.Weight, s.Failed, s.Primary, s.Canary, m, s.Revision)
}

// Recorder polls a Canary and its route and keeps every distinct state, so that a scenario can
// check the sequence of weights a rollout went through.
type Recorder struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	snaps  []Snapshot
	// failures counts the polls that could not read the Canary, and lastErr is the last such
	// error with its time: a recording that stops early says why.
	failures int
	lastErr  string
}

// Record starts recording the Canary ns/name (its route read for provider) every 100 ms.
func (e *Env) Record(ctx context.Context, provider, ns, name string) *Recorder {
	ctx, cancel := context.WithCancel(ctx)
	r := &Recorder{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		for {
			s, err := e.snapshot(ctx, provider, ns, name)
			r.mu.Lock()
			switch {
			case err == nil:
				if n := len(r.snaps); n == 0 || r.snaps[n-1].key() != s.key() {
					r.snaps = append(r.snaps, s)
				}
			case ctx.Err() == nil:
				r.failures++
				r.lastErr = time.Now().Format("15:04:05.0") + " " + err.Error()
			}
			r.mu.Unlock()
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	return r
}

func (e *Env) snapshot(ctx context.Context, provider, ns, name string) (Snapshot, error) {
	c, err := e.GetCanary(ctx, ns, name)
	if err != nil {
		return Snapshot{}, err
	}
	s := Snapshot{Time: time.Now(), Phase: c.Status.Phase, Weight: c.Status.CanaryWeight, Failed: c.Status.FailedChecks, Revision: c.Status.LastAppliedSpec}
	if r, err := e.Route(ctx, provider, ns, name); err == nil {
		s.Primary, s.Canary, s.Mirror = r.Weight("", name+"-primary"), r.Weight("", name+"-canary"), r.HasMirror()
	}
	return s, nil
}

// Snapshots returns the states recorded so far.
func (r *Recorder) Snapshots() []Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Snapshot(nil), r.snaps...)
}

// Stop stops recording and returns the states recorded.
func (r *Recorder) Stop() []Snapshot {
	r.cancel()
	<-r.done
	return r.Snapshots()
}

// Failures returns how many polls could not read the Canary, and the last error with its time.
func (r *Recorder) Failures() (int, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failures, r.lastErr
}

// Weights returns the distinct status weights in order of appearance, consecutive repeats
// folded.
func Weights(snaps []Snapshot) []int32 {
	var out []int32
	for _, s := range snaps {
		if n := len(out); n == 0 || out[n-1] != s.Weight {
			out = append(out, s.Weight)
		}
	}
	return out
}

// RouteCanaryWeights returns the distinct canary weights of the route, consecutive repeats
// folded.
func RouteCanaryWeights(snaps []Snapshot) []int32 {
	var out []int32
	for _, s := range snaps {
		if n := len(out); n == 0 || out[n-1] != s.Canary {
			out = append(out, s.Canary)
		}
	}
	return out
}

// Format lists snapshots one per line, for a failure message.
func Format(snaps []Snapshot) string {
	lines := make([]string, len(snaps))
	for i, s := range snaps {
		lines[i] = "  " + s.String()
	}
	return strings.Join(lines, "\n")
}
