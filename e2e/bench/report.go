package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is what the bench writes as JSON (-out).
type Report struct {
	Started  string   `json:"started"`
	Host     Host     `json:"host"`
	Settings Settings `json:"settings"`
	Results  []Result `json:"results"`
}

// Host describes the machine.
type Host struct {
	CPUs int `json:"cpus"`
	// LoadAverage is /proc/loadavg when the bench started, and LoadAverageEnd when it wrote
	// the last result: other work on the machine shows here.
	LoadAverage    string `json:"loadAverage"`
	LoadAverageEnd string `json:"loadAverageEnd,omitempty"`
	GoVersion      string `json:"goVersion"`
}

// Settings are the fleet's and the controller's.
type Settings struct {
	Controller          string   `json:"controller"`
	Version             string   `json:"version"`
	Provider            string   `json:"provider"`
	IntervalSeconds     float64  `json:"intervalSeconds"`
	StepWeight          int32    `json:"stepWeight,omitempty"`
	Iterations          int32    `json:"iterations,omitempty"`
	StepsPerRollout     int      `json:"stepsPerRollout"`
	IdealRolloutSeconds float64  `json:"idealRolloutSeconds"`
	Concurrent          int      `json:"concurrent"`
	KubeAPIQPS          int      `json:"kubeAPIQPS"`
	KubeAPIBurst        int      `json:"kubeAPIBurst"`
	ExtraArgs           []string `json:"extraArgs,omitempty"`
	MaxConcurrentFlag   bool     `json:"maxConcurrentCanariesFlag"`
	Pprof               bool     `json:"pprof"`
	RestSeconds         float64  `json:"restSeconds"`
	Reactions           int      `json:"reactions"`
	TestApp             bool     `json:"testApp"`
}

// Result is one fleet size.
type Result struct {
	N           int      `json:"n"`
	Namespace   string   `json:"namespace"`
	WallSeconds float64  `json:"wallSeconds"`
	Setup       Setup    `json:"setup"`
	Rest        Rest     `json:"rest"`
	Reaction    Reaction `json:"reaction"`
	Fleet       []Fleet  `json:"fleet"`
	// PeakRSSMB is the highest VmHWM of the controller processes of this size.
	PeakRSSMB float64 `json:"peakRSSMB"`
	// PeakAnonMB and PeakFileMB are the highest anonymous and file-backed resident memory
	// sampled of those processes (residentPeaks): what the work grew, and the executable's own
	// pages.
	PeakAnonMB float64  `json:"peakAnonMB"`
	PeakFileMB float64  `json:"peakFileMB"`
	Notes      []string `json:"notes,omitempty"`
}

// Setup is the creation of the fleet and its initialization by the controller.
type Setup struct {
	DeploymentsAvailableSeconds float64 `json:"deploymentsAvailableSeconds"`
	// Initialized is how many Canaries reached Initialized (all, unless the wait timed out).
	Initialized int `json:"initialized"`
	// CanariesInitializedSeconds runs from the controller's start to the last Initialized.
	CanariesInitializedSeconds float64 `json:"canariesInitializedSeconds"`
	// RequestsPerCanary are the controller's API requests by method per canary, from its start
	// until it was idle after initialization (including its own informers' lists and watches).
	RequestsPerCanary map[string]float64 `json:"requestsPerCanary"`
	ReconcileErrors   int                `json:"reconcileErrors"`
	CacheWaitTimeouts int                `json:"cacheWaitTimeouts"`
}

// Rest is a window in which every Canary is Initialized and nothing changes.
type Rest struct {
	WindowSeconds              float64            `json:"windowSeconds"`
	Requests                   map[string]float64 `json:"requests"`
	RequestsPerCanaryPerMinute float64            `json:"requestsPerCanaryPerMinute"`
	Reconciles                 float64            `json:"reconciles"`
	CPUSecondsPerMinute        float64            `json:"cpuSecondsPerMinute"`
	RSSMB                      float64            `json:"rssMB"`
	HeapInuseMB                float64            `json:"heapInuseMB"`
}

// Reaction is the delay from sending a Deployment update to the watch delivering its Canary
// out of Succeeded/Initialized.
type Reaction struct {
	M            int  `json:"m"`
	Milliseconds dist `json:"milliseconds"`
}

// Fleet is one fleet-wide change: every Deployment gets a new revision at once.
type Fleet struct {
	Label                 string `json:"label"`
	MaxConcurrentCanaries int    `json:"maxConcurrentCanaries,omitempty"`
	Canaries              int    `json:"canaries"`
	// Promoted is how many Canaries promoted the new revision; fewer than Canaries when the
	// change did not finish within the budget.
	Promoted           int     `json:"promoted"`
	PatchSpreadSeconds float64 `json:"patchSpreadSeconds"`
	// DurationSeconds runs from the first patch to the last Canary Succeeded.
	DurationSeconds float64 `json:"durationSeconds"`
	// IdealSeconds is steps × interval, times the number of waves with
	// --max-concurrent-canaries; the promotion itself counts as instant.
	IdealSeconds float64 `json:"idealSeconds"`
	RatioToIdeal float64 `json:"ratioToIdeal"`
	// RolloutSeconds runs, per canary, from its patch to its Succeeded.
	RolloutSeconds dist `json:"rolloutSeconds"`
	// Segments split those rollouts into consecutive parts, the last one, "total", being
	// RolloutSeconds again; each part is summarised on its own, so their p50s need not add up.
	Segments                   []Segment          `json:"segments,omitempty"`
	WindowSeconds              float64            `json:"windowSeconds"`
	Requests                   map[string]float64 `json:"requests"`
	FailedRequests             float64            `json:"failedRequests"`
	RequestsPerCanaryPerMinute float64            `json:"requestsPerCanaryPerMinute"`
	WritesPerCanaryPerMinute   float64            `json:"writesPerCanaryPerMinute"`
	Steps                      int                `json:"steps"`
	WritesPerRollout           float64            `json:"writesPerRollout"`
	// WritesPerStep is measured between the last rollout start and the first promotion, where
	// only analysis steps happen; WritesPerStepAll divides every write of the change by its steps.
	WritesPerStep           float64 `json:"writesPerStep"`
	SteadyReconcilesPerStep float64 `json:"steadyReconcilesPerStep"`
	SteadyWindowSeconds     float64 `json:"steadyWindowSeconds"`
	WritesPerStepAll        float64 `json:"writesPerStepAll"`
	LatenessStatusSeconds   dist    `json:"latenessStatusSeconds"`
	LatenessWatchSeconds    dist    `json:"latenessWatchSeconds"`
	// FirstSteps splits the lateness of the rollouts' first steps into the wait for the
	// canary's pods and the time after them (nil when the target Deployments were not watched).
	FirstSteps *FirstStepWaits `json:"firstSteps,omitempty"`
	// LatenessLessCanaryWaitsSeconds is LatenessWatchSeconds with each first step's wait for
	// its canary's pods taken out.
	LatenessLessCanaryWaitsSeconds dist `json:"latenessLessCanaryWaitsSeconds"`
	// LatenessOverTime is LatenessWatchSeconds by window of the change (latenessWindow).
	LatenessOverTime          []LatenessWindow `json:"latenessOverTime,omitempty"`
	CPUSecondsPerMinute       float64          `json:"cpuSecondsPerMinute"`
	Reconciles                float64          `json:"reconciles"`
	ReconcilesPerStep         float64          `json:"reconcilesPerStep"`
	MeanReconcileMilliseconds float64          `json:"meanReconcileMilliseconds"`
	// ReconcileP50Milliseconds and ReconcileP99Milliseconds come from the controller's
	// reconcile-time histogram (interpolated inside its buckets).
	ReconcileP50Milliseconds  float64 `json:"reconcileP50Milliseconds"`
	ReconcileP99Milliseconds  float64 `json:"reconcileP99Milliseconds"`
	MeanQueueWaitMilliseconds float64 `json:"meanQueueWaitMilliseconds"`
	// ReconcileErrors and CacheWaitTimeouts count log lines of the controller in the change:
	// failed reconciles, and workers that waited the full 2 s for their cache to show their own
	// status write.
	ReconcileErrors   int     `json:"reconcileErrors"`
	CacheWaitTimeouts int     `json:"cacheWaitTimeouts"`
	PeakRSSMB         float64 `json:"peakRSSMB"`

	peakKB int64
}

// Segment is one part of the rollouts of a fleet-wide change (segmentNames), from the watch's
// arrival times, over the Canaries that promoted the new revision.
type Segment struct {
	Name    string `json:"name"`
	Seconds dist   `json:"seconds"`
	// IdealSeconds is the part's share of the ideal schedule of one rollout. With
	// --max-concurrent-canaries a Canary of wave w also waits w-1 ideal rollouts for its slot,
	// in "patch → rollout start".
	IdealSeconds float64 `json:"idealSeconds"`
	// StepsSeen, of "weight steps", counts the analysis steps the watch delivered from the
	// rollout starts to the steps that started the promotions, over all Canaries: steps per
	// rollout times Seconds.N, unless the watch missed some.
	StepsSeen int `json:"stepsSeen,omitempty"`
}

func hostInfo() Host {
	return Host{CPUs: runtime.NumCPU(), LoadAverage: loadAverage(), GoVersion: runtime.Version()}
}

func loadAverage() string {
	load, _ := os.ReadFile("/proc/loadavg")
	return strings.TrimSpace(string(load))
}

func settingsOf(c *config, f features) Settings {
	s := Settings{
		Controller: c.siskin, Version: f.version, Provider: c.provider,
		IntervalSeconds: c.interval.Seconds(), StepsPerRollout: c.stepsPerRollout(), IdealRolloutSeconds: c.idealRollout().Seconds(),
		Concurrent: c.concurrent, KubeAPIQPS: c.qps, KubeAPIBurst: c.burst, ExtraArgs: c.siskinArgs,
		MaxConcurrentFlag: f.maxConcurrent, Pprof: f.pprof, RestSeconds: c.rest.Seconds(), Reactions: c.reactions, TestApp: c.testapp,
	}
	if c.provider == "kubernetes" {
		s.Iterations = c.iterations
	} else {
		s.StepWeight = c.stepWeight
	}
	return s
}

func writeJSON(path string, r *Report) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// row is one line of the table: a label, the target, and a value per result.
type row struct {
	label, target string
	value         func(r *Result) string
}

// printTable prints every result so far side by side, one column per fleet size.
func printTable(w io.Writer, rep *Report) {
	s := rep.Settings
	strategy := fmt.Sprintf("stepWeight %d", s.StepWeight)
	if s.Provider == "kubernetes" {
		strategy = fmt.Sprintf("%d iterations", s.Iterations)
	}
	_, _ = fmt.Fprintf(w, "\nSiskin bench: %s %s, provider %s, %s, interval %.0fs: %d steps, ideal rollout %.0fs; --concurrent %d --kube-api-qps %d --kube-api-burst %d %s\n",
		s.Controller, s.Version, s.Provider, strategy, s.IntervalSeconds, s.StepsPerRollout, s.IdealRolloutSeconds,
		s.Concurrent, s.KubeAPIQPS, s.KubeAPIBurst, strings.Join(s.ExtraArgs, " "))
	_, _ = fmt.Fprintf(w, "host: %d CPUs, load average at start %s, now %s\n\n", rep.Host.CPUs, rep.Host.LoadAverage, rep.Host.LoadAverageEnd)

	rows := []row{
		{"setup: Deployments available / Canaries Initialized (s)", "", func(r *Result) string {
			if r.Setup.Initialized < r.N {
				return fmt.Sprintf("%.1f / > %.1f (%d/%d Initialized)", r.Setup.DeploymentsAvailableSeconds, r.Setup.CanariesInitializedSeconds, r.Setup.Initialized, r.N)
			}
			return fmt.Sprintf("%.1f / %.1f", r.Setup.DeploymentsAvailableSeconds, r.Setup.CanariesInitializedSeconds)
		}},
		{"setup: API requests per canary to initialize", "", func(r *Result) string { return methods(r.Setup.RequestsPerCanary) }},
		{"setup: reconcile errors; 2 s cache-wait timeouts", "", func(r *Result) string {
			return fmt.Sprintf("%d; %d", r.Setup.ReconcileErrors, r.Setup.CacheWaitTimeouts)
		}},
		{"at rest: API requests / canary / min", "0", func(r *Result) string {
			return fmt.Sprintf("%.3f (%s in %.0fs)", r.Rest.RequestsPerCanaryPerMinute, methods(r.Rest.Requests), r.Rest.WindowSeconds)
		}},
		{"at rest: reconciles in the window", "", func(r *Result) string { return fmt.Sprintf("%.0f", r.Rest.Reconciles) }},
		{"at rest: CPU s / min", "", func(r *Result) string { return fmt.Sprintf("%.3f", r.Rest.CPUSecondsPerMinute) }},
		{"at rest: RSS / Go heap in use (MB)", "", func(r *Result) string { return fmt.Sprintf("%.1f / %.1f", r.Rest.RSSMB, r.Rest.HeapInuseMB) }},
		{"reaction p50 / p99 / max (ms)", "< 250", func(r *Result) string {
			d := r.Reaction.Milliseconds
			return fmt.Sprintf("%.0f / %.0f / %.0f (M=%d)", d.P50, d.P99, d.Max, r.Reaction.M)
		}},
	}
	nFleet := 0
	for i := range rep.Results {
		nFleet = max(nFleet, len(rep.Results[i].Fleet))
	}
	for i := range nFleet {
		fl := func(f func(f *Fleet) string) func(r *Result) string {
			return func(r *Result) string {
				if i >= len(r.Fleet) {
					return "-"
				}
				return f(&r.Fleet[i])
			}
		}
		title := "fleet change"
		if i > 0 {
			title = "fleet change, --max-concurrent-canaries"
		}
		rows = append(rows,
			row{title + ": time / ideal (s)", "≤ 1.1× ideal", fl(func(f *Fleet) string {
				k := ""
				if f.MaxConcurrentCanaries > 0 {
					k = fmt.Sprintf(" (K=%d)", f.MaxConcurrentCanaries)
				}
				if f.Promoted < f.Canaries {
					return fmt.Sprintf("> %.1f / %.0f = > %.2f×%s; stopped with %d/%d promoted", f.DurationSeconds, f.IdealSeconds, f.RatioToIdeal, k, f.Promoted, f.Canaries)
				}
				return fmt.Sprintf("%.1f / %.0f = %.2f×%s", f.DurationSeconds, f.IdealSeconds, f.RatioToIdeal, k)
			})},
			row{"  rollout per canary p50 / p99 / max (s); patch spread (s)", "", fl(func(f *Fleet) string {
				return fmt.Sprintf("%.1f / %.1f / %.1f; %.1f", f.RolloutSeconds.P50, f.RolloutSeconds.P99, f.RolloutSeconds.Max, f.PatchSpreadSeconds)
			})},
		)
		rows = append(rows, segmentRows(s, i > 0, fl)...)
		rows = append(rows,
			row{"  API requests / canary / min (writes)", "", fl(func(f *Fleet) string {
				return fmt.Sprintf("%.2f (%.2f); %s", f.RequestsPerCanaryPerMinute, f.WritesPerCanaryPerMinute, methods(f.Requests))
			})},
			row{"  API writes per step: steady / whole change", "≤ 5", fl(func(f *Fleet) string {
				steady := "-"
				if f.WritesPerStep > 0 {
					steady = fmt.Sprintf("%.2f", f.WritesPerStep)
				}
				return fmt.Sprintf("%s / %.2f (%d steps, %.1f writes per rollout, %.0f failed)", steady, f.WritesPerStepAll, f.Steps, f.WritesPerRollout, f.FailedRequests)
			})},
			row{"  step lateness p50 / p99 / max, status times (s, 1 s res.)", "p99 < 1 s", fl(func(f *Fleet) string {
				d := f.LatenessStatusSeconds
				return fmt.Sprintf("%.0f / %.0f / %.0f (%d)", d.P50, d.P99, d.Max, d.N)
			})},
			row{"  step lateness p50 / p99 / max, watch times (s)", "p99 < 1 s", fl(func(f *Fleet) string {
				d := f.LatenessWatchSeconds
				return fmt.Sprintf("%.2f / %.2f / %.2f", d.P50, d.P99, d.Max)
			})},
			row{"  step lateness p50 / p99, watch times less the first steps' waits for the canary (s)", "p99 < 1 s", fl(func(f *Fleet) string {
				if f.FirstSteps == nil {
					return "-"
				}
				return fmt.Sprintf("%.2f / %.2f", f.LatenessLessCanaryWaitsSeconds.P50, f.LatenessLessCanaryWaitsSeconds.P99)
			})},
			row{"  first steps: late waiting for the canary / after it, p50 / p99 (s)", "", fl(func(f *Fleet) string {
				d := f.FirstSteps
				if d == nil {
					return "-"
				}
				return fmt.Sprintf("%.2f / %.2f; %.2f / %.2f (%d)", d.CanaryNotReady.P50, d.CanaryNotReady.P99, d.AfterReady.P50, d.AfterReady.P99, d.N)
			})},
			row{"  reconciles per step: steady / whole change", "", fl(func(f *Fleet) string {
				steady := "-"
				if f.SteadyReconcilesPerStep > 0 {
					steady = fmt.Sprintf("%.2f", f.SteadyReconcilesPerStep)
				}
				return fmt.Sprintf("%s / %.2f", steady, f.ReconcilesPerStep)
			})},
			row{"  reconcile time p50 / p99 / mean; queue wait mean (ms)", "", fl(func(f *Fleet) string {
				return fmt.Sprintf("%.0f / %.0f / %.0f; %.0f", f.ReconcileP50Milliseconds, f.ReconcileP99Milliseconds, f.MeanReconcileMilliseconds, f.MeanQueueWaitMilliseconds)
			})},
			row{"  reconcile errors; 2 s cache-wait timeouts", "", fl(func(f *Fleet) string {
				return fmt.Sprintf("%d; %d", f.ReconcileErrors, f.CacheWaitTimeouts)
			})},
			row{"  CPU s / min; peak RSS (MB)", "", fl(func(f *Fleet) string {
				return fmt.Sprintf("%.2f; %.1f", f.CPUSecondsPerMinute, f.PeakRSSMB)
			})},
		)
	}
	rows = append(rows,
		row{"peak RSS, VmHWM (MB)", "≤ 100 at N=1000", func(r *Result) string { return fmt.Sprintf("%.1f", r.PeakRSSMB) }},
		row{"  of it anonymous / file-backed, peaks sampled every 0.5 s (MB)", "", func(r *Result) string {
			return fmt.Sprintf("%.1f / %.1f", r.PeakAnonMB, r.PeakFileMB)
		}},
		row{"wall time of this size (s)", "", func(r *Result) string { return fmt.Sprintf("%.0f", r.WallSeconds) }},
	)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	header := []string{"metric", "target"}
	for i := range rep.Results {
		header = append(header, fmt.Sprintf("N=%d", rep.Results[i].N))
	}
	_, _ = fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, rw := range rows {
		cells := []string{rw.label, rw.target}
		for i := range rep.Results {
			cells = append(cells, rw.value(&rep.Results[i]))
		}
		_, _ = fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
	for i := range rep.Results {
		for _, n := range rep.Results[i].Notes {
			_, _ = fmt.Fprintf(w, "N=%d: %s\n", rep.Results[i].N, n)
		}
	}
}

// segmentRows are the rows of the segments of the rollouts of a fleet-wide change, with their
// ideal in the target column; waves says the change ran with --max-concurrent-canaries, where
// later waves also wait for a slot.
func segmentRows(s Settings, waves bool, fl func(func(f *Fleet) string) func(r *Result) string) []row {
	ideal := idealSegments(time.Duration(s.IntervalSeconds*float64(time.Second)), s.StepsPerRollout)
	names := append(segmentNames[:], "total")
	rows := make([]row, len(names))
	for k, name := range names {
		target := fmt.Sprintf("ideal %.0f", s.IdealRolloutSeconds)
		if k < len(ideal) {
			target = fmt.Sprintf("ideal %.0f", ideal[k].Seconds())
		}
		if waves && (k == 0 || k == len(ideal)) {
			target += fmt.Sprintf(", +%.0f per wave", s.IdealRolloutSeconds)
		}
		rows[k] = row{"    " + name + " p50 / p99 / max (s)", target, fl(func(f *Fleet) string {
			if k >= len(f.Segments) {
				return "-"
			}
			g := f.Segments[k]
			v := fmt.Sprintf("%.1f / %.1f / %.1f", g.Seconds.P50, g.Seconds.P99, g.Seconds.Max)
			if k == weightSteps {
				v += fmt.Sprintf("; %d steps seen of %d", g.StepsSeen, g.Seconds.N*s.StepsPerRollout)
			}
			return v
		})}
	}
	return rows
}

// methods formats request counts by method, largest first.
func methods(m map[string]float64) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if m[a] != m[b] {
			if m[a] > m[b] {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %g", k, m[k])
	}
	return strings.Join(parts, ", ")
}
