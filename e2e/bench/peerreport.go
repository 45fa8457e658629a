package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/siskin-dev/siskin/e2e/localenv/envfile"
)

// PeerResult is one controller on one fleet size in a comparison (-controllers), measured the
// same way for every controller: requests counted at its API proxy, objects watched, /proc.
type PeerResult struct {
	Controller string `json:"controller"`
	Version    string `json:"version"`
	N          int    `json:"n"`
	Namespace  string `json:"namespace"`
	// Stage is how far the run got: setup, at rest, reaction, fleet-wide change, or done.
	Stage       string    `json:"stage"`
	WallSeconds float64   `json:"wallSeconds"`
	Setup       PeerSetup `json:"setup"`
	Rest        PeerRest  `json:"rest"`
	Reaction    Reaction  `json:"reaction"`
	Fleet       PeerFleet `json:"fleet"`
	// PeakRSSMB is the controller's VmHWM when it was stopped.
	PeakRSSMB float64 `json:"peakRSSMB"`
	// PeakAnonMB and PeakFileMB are the highest anonymous and file-backed resident memory
	// sampled (residentPeaks): what the work grew, and the executable's own pages.
	PeakAnonMB float64  `json:"peakAnonMB"`
	PeakFileMB float64  `json:"peakFileMB"`
	Notes      []string `json:"notes,omitempty"`
}

// PeerSetup is the controller's initialization of the fleet.
type PeerSetup struct {
	Initialized int     `json:"initialized"`
	Seconds     float64 `json:"seconds"`
	// RequestsPerCanary are its API requests by verb per canary from its start until its
	// objects stopped changing.
	RequestsPerCanary map[string]float64 `json:"requestsPerCanary"`
}

// PeerRest is a window in which nothing changes.
type PeerRest struct {
	WindowSeconds              float64            `json:"windowSeconds"`
	Requests                   map[string]float64 `json:"requests"`
	RequestsPerCanaryPerMinute float64            `json:"requestsPerCanaryPerMinute"`
	CPUSecondsPerMinute        float64            `json:"cpuSecondsPerMinute"`
	RSSMB                      float64            `json:"rssMB"`
}

// PeerFleet is the fleet-wide change: every Deployment gets a new revision at once.
type PeerFleet struct {
	Canaries        int     `json:"canaries"`
	Promoted        int     `json:"promoted"`
	DurationSeconds float64 `json:"durationSeconds"`
	IdealSeconds    float64 `json:"idealSeconds"`
	RatioToIdeal    float64 `json:"ratioToIdeal"`
	RolloutSeconds  dist    `json:"rolloutSeconds"`
	WindowSeconds   float64 `json:"windowSeconds"`
	// Requests are by verb, WATCH being a GET with watch=true.
	Requests                   map[string]float64 `json:"requests"`
	FailedRequests             float64            `json:"failedRequests"`
	RequestsPerCanaryPerMinute float64            `json:"requestsPerCanaryPerMinute"`
	WritesPerRollout           float64            `json:"writesPerRollout"`
	// LatenessSeconds is each weight step's lateness: the gap between two consecutive increases
	// of a canary's weight, by watch arrival times, less the interval.
	LatenessSeconds dist `json:"latenessSeconds"`
	// LatenessOverTime is LatenessSeconds by window of the change (latenessWindow), with the
	// rollouts under way at each window's start.
	LatenessOverTime    []LatenessWindow `json:"latenessOverTime,omitempty"`
	CPUSecondsPerMinute float64          `json:"cpuSecondsPerMinute"`
	PeakRSSMB           float64          `json:"peakRSSMB"`
}

// Comparison is what the bench writes as JSON with more than one controller.
type Comparison struct {
	Started     string       `json:"started"`
	Host        Host         `json:"host"`
	Settings    Settings     `json:"settings"`
	Controllers []string     `json:"controllers"`
	Results     []PeerResult `json:"results"`
}

// runCompare runs every controller of cfg.controllers on each fleet size, one after the other
// on the same environment, and prints the comparison after each.
func runCompare(ctx context.Context, cfg config, feats features, env *envfile.Env, cl *cluster) error {
	rep := &Comparison{
		Started:     time.Now().UTC().Format(time.RFC3339),
		Host:        hostInfo(),
		Settings:    settingsOf(&cfg, feats),
		Controllers: cfg.controllers,
	}
	runID := fmt.Sprintf("%x", time.Now().Unix()%0x100000)
	var errs []error
	for _, n := range cfg.sizes {
		for _, name := range cfg.controllers {
			d := newDriver(name, &cfg)
			t0 := time.Now()
			res, err := runPeerSize(ctx, &cfg, env, cl, d, n, runID)
			if res == nil && err != nil {
				res = &PeerResult{Controller: name, N: n, Stage: "setup", Notes: []string{err.Error()}}
			}
			res.Version = versionOf(ctx, name, &cfg, feats)
			res.WallSeconds = seconds(time.Since(t0))
			rep.Results = append(rep.Results, *res)
			rep.Host.LoadAverageEnd = loadAverage()
			printComparison(os.Stdout, rep)
			if cfg.out != "" {
				if werr := writeJSONAny(cfg.out, rep); werr != nil {
					errs = append(errs, werr)
				}
			}
			if err != nil {
				if ctx.Err() != nil {
					return errors.Join(append(errs, err)...)
				}
				// A peer that fails is reported as far as it got; the others still run.
				logf("N=%d %s: %v", n, name, err)
				errs = append(errs, fmt.Errorf("fleet of %d, %s: %w", n, name, err))
				continue
			}
			logf("N=%d %s done in %s", n, name, time.Since(t0).Round(time.Second))
		}
	}
	return errors.Join(errs...)
}

// versionOf is the version the comparison reports for a controller.
func versionOf(_ context.Context, name string, cfg *config, feats features) string {
	if name == ctlSiskin {
		return feats.version
	}
	file := map[string]string{ctlFlagger: "flagger.version", ctlArgo: "rollouts-controller.version"}[name]
	b, err := os.ReadFile(cfg.peersDir + "/" + file)
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// ratio formats v with its ratio to Siskin's s: "12.0 (3.00×)". A ratio needs two figures of
// the same sign with Siskin's not zero; lateness can be negative (a step early after a late
// one), where a ratio says nothing.
func ratio(v, s float64, format string) string {
	out := fmt.Sprintf(format, v)
	switch {
	case s > 0 && v >= 0:
		out += fmt.Sprintf(" (%.2f×)", v/s)
	case s == 0 && v > 0:
		out += " (Siskin 0)"
	}
	return out
}

// peerRow is a row of the comparison: a label and a figure per result, nil where the run did not
// measure it.
type peerRow struct {
	label  string
	format string
	value  func(r *PeerResult) (float64, bool)
}

var peerRows = []peerRow{
	{"initialize: seconds", "%.1f", func(r *PeerResult) (float64, bool) { return r.Setup.Seconds, r.Setup.Initialized == r.N }},
	{"at rest: API requests / canary / min", "%.3f", func(r *PeerResult) (float64, bool) {
		return r.Rest.RequestsPerCanaryPerMinute, r.Rest.WindowSeconds > 0
	}},
	{"at rest: CPU s / min", "%.3f", func(r *PeerResult) (float64, bool) { return r.Rest.CPUSecondsPerMinute, r.Rest.WindowSeconds > 0 }},
	{"at rest: RSS (MB)", "%.1f", func(r *PeerResult) (float64, bool) { return r.Rest.RSSMB, r.Rest.WindowSeconds > 0 }},
	{"reaction p50 (ms)", "%.0f", func(r *PeerResult) (float64, bool) { return r.Reaction.Milliseconds.P50, r.Reaction.Milliseconds.N > 0 }},
	{"reaction p99 (ms)", "%.0f", func(r *PeerResult) (float64, bool) { return r.Reaction.Milliseconds.P99, r.Reaction.Milliseconds.N > 0 }},
	{"fleet change: time (s)", "%.1f", func(r *PeerResult) (float64, bool) { return r.Fleet.DurationSeconds, r.Fleet.Canaries > 0 }},
	{"fleet change: time / ideal", "%.2f", func(r *PeerResult) (float64, bool) { return r.Fleet.RatioToIdeal, r.Fleet.Canaries > 0 }},
	{"fleet change: rollout p50 (s)", "%.1f", func(r *PeerResult) (float64, bool) { return r.Fleet.RolloutSeconds.P50, r.Fleet.RolloutSeconds.N > 0 }},
	{"fleet change: rollout p99 (s)", "%.1f", func(r *PeerResult) (float64, bool) { return r.Fleet.RolloutSeconds.P99, r.Fleet.RolloutSeconds.N > 0 }},
	{"fleet change: API requests / canary / min", "%.2f", func(r *PeerResult) (float64, bool) {
		return r.Fleet.RequestsPerCanaryPerMinute, r.Fleet.Canaries > 0
	}},
	{"fleet change: API writes per rollout", "%.2f", func(r *PeerResult) (float64, bool) { return r.Fleet.WritesPerRollout, r.Fleet.Canaries > 0 }},
	{"fleet change: step lateness p50 (s)", "%.2f", func(r *PeerResult) (float64, bool) {
		return r.Fleet.LatenessSeconds.P50, r.Fleet.LatenessSeconds.N > 0
	}},
	{"fleet change: step lateness p99 (s)", "%.2f", func(r *PeerResult) (float64, bool) {
		return r.Fleet.LatenessSeconds.P99, r.Fleet.LatenessSeconds.N > 0
	}},
	{"fleet change: CPU s / min", "%.2f", func(r *PeerResult) (float64, bool) { return r.Fleet.CPUSecondsPerMinute, r.Fleet.Canaries > 0 }},
	{"peak RSS, VmHWM (MB)", "%.1f", func(r *PeerResult) (float64, bool) { return r.PeakRSSMB, r.PeakRSSMB > 0 }},
	{"  of it anonymous, peak sampled (MB)", "%.1f", func(r *PeerResult) (float64, bool) { return r.PeakAnonMB, r.PeakAnonMB > 0 }},
	{"  of it file-backed, peak sampled (MB)", "%.1f", func(r *PeerResult) (float64, bool) { return r.PeakFileMB, r.PeakFileMB > 0 }},
}

// printComparison prints one column per controller and size, each peer's figure followed by
// its ratio to Siskin's of the same size.
func printComparison(w io.Writer, rep *Comparison) {
	s := rep.Settings
	_, _ = fmt.Fprintf(w, "\nPeers, same run: provider istio, stepWeight %d, interval %.0fs: ideal rollout %.0fs; --concurrent/threads %d, client QPS %d, burst %d; requests counted at each controller's API proxy\n",
		s.StepWeight, s.IntervalSeconds, s.IdealRolloutSeconds, s.Concurrent, s.KubeAPIQPS, s.KubeAPIBurst)
	_, _ = fmt.Fprintf(w, "host: %d CPUs, load average at start %s, now %s\n\n", rep.Host.CPUs, rep.Host.LoadAverage, rep.Host.LoadAverageEnd)
	siskinOf := map[int]*PeerResult{}
	for i := range rep.Results {
		if r := &rep.Results[i]; r.Controller == ctlSiskin {
			siskinOf[r.N] = r
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"metric"}
	for _, r := range rep.Results {
		header = append(header, fmt.Sprintf("%s %s N=%d", r.Controller, r.Version, r.N))
	}
	_, _ = fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, row := range peerRows {
		cells := []string{row.label}
		for i := range rep.Results {
			cells = append(cells, peerCell(row, &rep.Results[i], siskinOf[rep.Results[i].N]))
		}
		_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	cells := []string{"fleet change: promoted / canaries"}
	for _, r := range rep.Results {
		if r.Fleet.Canaries == 0 {
			cells = append(cells, "-")
			continue
		}
		cells = append(cells, fmt.Sprintf("%d/%d", r.Fleet.Promoted, r.Fleet.Canaries))
	}
	_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	cells = []string{"got to"}
	for _, r := range rep.Results {
		cells = append(cells, r.Stage)
	}
	_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	_ = tw.Flush()
	for _, r := range rep.Results {
		for _, n := range r.Notes {
			_, _ = fmt.Fprintf(w, "%s N=%d: %s\n", r.Controller, r.N, n)
		}
	}
}

// peerCell is r's figure of row, with the ratio to Siskin's when r is a peer and both measured it.
func peerCell(row peerRow, r, siskin *PeerResult) string {
	v, ok := row.value(r)
	if !ok {
		return "-"
	}
	if r.Controller == ctlSiskin || siskin == nil {
		return fmt.Sprintf(row.format, v)
	}
	s, sok := row.value(siskin)
	if !sok {
		return fmt.Sprintf(row.format, v)
	}
	return ratio(v, s, row.format)
}

func writeJSONAny(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
