package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	networkingv1 "istio.io/client-go/pkg/apis/networking/v1"
	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/e2e/framework"
)

// Report is what a chaos run measured.
type Report struct {
	Date        string  `json:"date"`
	Seed        int64   `json:"seed"`
	Apps        int     `json:"apps"`
	LoadStart   string  `json:"loadAverageStart"`
	LoadEnd     string  `json:"loadAverageEnd"`
	WallSeconds float64 `json:"wallSeconds"`
	// RolloutSeconds is from the first release to the end of the last rollout.
	RolloutSeconds float64 `json:"rolloutSeconds"`
	StateDir       string  `json:"stateDir"`

	Rollouts  int `json:"rollouts"`
	Good      int `json:"good"`
	Bad       int `json:"bad"`
	Succeeded int `json:"succeeded"`
	Failed    int `json:"failed"`
	Stuck     int `json:"stuck"`
	// MedianRolloutSeconds is from the release to Succeeded or Failed.
	MedianRolloutSeconds float64 `json:"medianRolloutSeconds"`

	Kills           int     `json:"kills"`
	LeaderKills     int     `json:"leaderKills"`
	HandoverSeconds float64 `json:"handoverSeconds"`
	PromDownSeconds float64 `json:"prometheusDownSeconds"`
	APIDownSeconds  float64 `json:"apiserverDownSeconds"`

	WrongPromotions []string `json:"wrongPromotions"`
	BadPromoted     []string `json:"badPromoted"`
	GoodRolledBack  []string `json:"goodRolledBack"`
	// GoodRolledBackOnErrors are the good releases rolled back because checks could not be
	// made for analysis.errorLimit steps (the Prometheus outage outlasted the error budget).
	GoodRolledBackOnErrors int      `json:"goodRolledBackOnErrors"`
	StepViolations         []string `json:"stepViolations"`
	OtherViolations        []string `json:"otherViolations"`
	FinalState             []string `json:"finalState"`
	InjectionFailures      []string `json:"injectionFailures"`
	Crashes                []string `json:"crashes"`

	// Users of the bad releases: requests sent during their rollouts, the canary share the
	// route planned for them (sum of the weights at send time), and how many the bad release
	// answered; ExcessRollouts counts bad rollouts whose users met the bad release more than
	// 3 standard deviations (and 5 requests) above the plan.
	BadUserRequests int     `json:"badUserRequests"`
	BadPlanned      float64 `json:"badPlanned"`
	BadServed       int     `json:"badServed"`
	BadServedAtZero int     `json:"badServedAtZero"`
	ExcessRollouts  int     `json:"excessRollouts"`
	// The same for the good releases, as a check of the share model.
	GoodPlanned float64 `json:"goodPlanned"`
	GoodServed  int     `json:"goodServed"`

	// Rollback latency, seconds: from the first sample showing a failed check to the route at
	// 100/0 for good, and from the first sample in phase Failed to it.
	FailToRest Dist `json:"failToRest"`
	// WeightedRollbacks are the rollbacks of a canary that had traffic; RollbacksAtZero those
	// decided while the route gave the canary 0%.
	WeightedRollbacks int  `json:"weightedRollbacks"`
	RollbacksAtZero   int  `json:"rollbacksAtZero"`
	FailedToRest      Dist `json:"failedToRest"`

	Samples       int      `json:"samples"`
	FailedSamples int      `json:"failedSamples"`
	MaxGapSeconds float64  `json:"maxSampleGapSeconds"`
	Events        []string `json:"events"`
}

// Dist summarises durations.
type Dist struct {
	N   int     `json:"n"`
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

func distOf(xs []float64) Dist {
	if len(xs) == 0 {
		return Dist{}
	}
	sort.Float64s(xs)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(xs)))) - 1
		return round(xs[max(0, min(i, len(xs)-1))])
	}
	return Dist{N: len(xs), P50: at(0.5), P99: at(0.99), Max: round(xs[len(xs)-1])}
}

func round(x float64) float64 { return math.Round(x*10) / 10 }

func buildReport(c config, apps []*app, in *injector, mon *monitor, final []string, rolloutWall, wall time.Duration, loadStart, stateDir string) *Report {
	rep := &Report{
		Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), Seed: c.seed, Apps: len(apps),
		LoadStart: loadStart, LoadEnd: loadAverage(), WallSeconds: round(wall.Seconds()),
		RolloutSeconds: round(rolloutWall.Seconds()), StateDir: stateDir, FinalState: final,
	}
	var durations, failToRest, failedToRest []float64
	for _, a := range apps {
		a.mu.Lock()
		for i, r := range a.rollouts {
			rep.Rollouts++
			name := a.ns + " " + r.rel.version
			bad := r.rel.bad != ""
			if bad {
				rep.Bad++
				rep.BadUserRequests += r.userRequests
				rep.BadPlanned += r.plannedShare
				rep.BadServed += r.servedByRel
				rep.BadServedAtZero += r.servedAtZero
				if float64(r.servedByRel) > r.plannedShare+3*math.Sqrt(r.plannedShare)+5 {
					rep.ExcessRollouts++
				}
				if r.promotingSeen || r.end == siskinv1.PhaseSucceeded {
					rep.BadPromoted = append(rep.BadPromoted, fmt.Sprintf("%s (%s) ended %s", name, r.rel.bad, r.end))
				}
			} else {
				rep.Good++
				rep.GoodPlanned += r.plannedShare
				rep.GoodServed += r.servedByRel
				if r.end == siskinv1.PhaseFailed {
					if strings.Contains(r.endReason, siskinv1.ReasonAnalysisErrorLimit) {
						rep.GoodRolledBackOnErrors++
					}
					prev := "the first release"
					if i > 0 {
						p := a.rollouts[i-1]
						kind := "good"
						if p.rel.bad != "" {
							kind = "bad (" + p.rel.bad + ")"
						}
						prev = fmt.Sprintf("released %s after the %s %s ended %s", r.released.Sub(p.endTime).Round(time.Second), kind, p.rel.version, p.end)
					}
					rep.GoodRolledBack = append(rep.GoodRolledBack, fmt.Sprintf("%s (%s; released %s) Failed at %s: %s; checks: %s",
						name, prev, r.released.Format("15:04:05"), r.failedAt.Format("15:04:05"), r.endReason, r.endChecks))
				}
			}
			switch {
			case r.stuck:
				rep.Stuck++
			case r.end == siskinv1.PhaseSucceeded:
				rep.Succeeded++
			case r.end == siskinv1.PhaseFailed:
				rep.Failed++
			}
			if !r.endTime.IsZero() {
				durations = append(durations, r.endTime.Sub(r.released).Seconds())
			}
			if r.end == siskinv1.PhaseFailed && !r.atRestSince.IsZero() {
				// Only rollbacks that had to move the route: one caught at weight 0 never sent
				// users to the canary.
				if r.weighted {
					rep.WeightedRollbacks++
					if !r.firstFail.IsZero() {
						failToRest = append(failToRest, max(0, r.atRestSince.Sub(r.firstFail).Seconds()))
					}
					if !r.failedAt.IsZero() {
						failedToRest = append(failedToRest, max(0, r.atRestSince.Sub(r.failedAt).Seconds()))
					}
				} else {
					rep.RollbacksAtZero++
				}
			}
			for _, v := range r.violations {
				switch {
				case strings.HasPrefix(v, "wrong primary"):
				case strings.Contains(v, "step") || strings.Contains(v, "failed checks went back") || strings.Contains(v, "promotion started after"):
					rep.StepViolations = append(rep.StepViolations, name+": "+v)
				default:
					rep.OtherViolations = append(rep.OtherViolations, name+": "+v)
				}
			}
		}
		a.mu.Unlock()
	}
	rep.MedianRolloutSeconds = distOf(durations).P50
	rep.Crashes = crashes(stateDir)
	rep.FailToRest, rep.FailedToRest = distOf(failToRest), distOf(failedToRest)
	mon.mu.Lock()
	rep.WrongPromotions = append(rep.WrongPromotions, mon.wrong...)
	rep.Samples, rep.FailedSamples, rep.MaxGapSeconds = mon.samples, mon.failedSamples, round(mon.maxGap.Seconds())
	mon.mu.Unlock()
	in.mu.Lock()
	rep.Kills, rep.LeaderKills = in.kills, in.leaderKills
	rep.HandoverSeconds, rep.PromDownSeconds, rep.APIDownSeconds = round(in.handover.Seconds()), round(in.promDown.Seconds()), round(in.apiDown.Seconds())
	rep.Events, rep.InjectionFailures = append(rep.Events, in.events...), append(rep.InjectionFailures, in.errs...)
	in.mu.Unlock()
	return rep
}

// ok reports whether every invariant held.
func (r *Report) ok() bool {
	return len(r.WrongPromotions) == 0 && len(r.BadPromoted) == 0 && len(r.StepViolations) == 0 &&
		len(r.GoodRolledBack) == r.GoodRolledBackOnErrors &&
		len(r.OtherViolations) == 0 && len(r.FinalState) == 0 && len(r.Crashes) == 0 && r.Stuck == 0 && r.ExcessRollouts == 0
}

func (r *Report) print(w io.Writer) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(w, format+"\n", args...) }
	p("")
	p("## chaos run %s, seed %d", r.Date, r.Seed)
	p("")
	p("| measure | result |")
	p("|---|---|")
	p("| rollouts (good / bad) | %d (%d / %d) over %d apps: %d Succeeded, %d Failed, %d stuck; median %.0f s each |", r.Rollouts, r.Good, r.Bad, r.Apps, r.Succeeded, r.Failed, r.Stuck, r.MedianRolloutSeconds)
	p("| controller SIGKILLs | %d, plus %d of the leader of two replicas (handover %.1f s) |", r.Kills, r.LeaderKills, r.HandoverSeconds)
	p("| Prometheus stopped | %.1f s |", r.PromDownSeconds)
	p("| kube-apiserver restarted | down %.1f s |", r.APIDownSeconds)
	p("| wrong promotions | %d |", len(r.WrongPromotions))
	p("| bad releases promoted | %d |", len(r.BadPromoted))
	p("| good releases rolled back | %d (%d of them on the error budget: no verdict for errorLimit steps) |", len(r.GoodRolledBack), r.GoodRolledBackOnErrors)
	p("| steps repeated or skipped | %d |", len(r.StepViolations))
	p("| controller crashes (panics in the logs) | %d |", len(r.Crashes))
	p("| users of bad releases | %d requests; the routes planned %.0f for the bad release, it answered %d (%d while the route gave it 0%%); rollouts above plan: %d |", r.BadUserRequests, r.BadPlanned, r.BadServed, r.BadServedAtZero, r.ExcessRollouts)
	p("| users of good releases (model check) | planned %.0f, answered %d |", r.GoodPlanned, r.GoodServed)
	p("| rollbacks | %d of a canary that had traffic, %d decided at weight 0 |", r.WeightedRollbacks, r.RollbacksAtZero)
	p("| failing check → route 100/0 | p50 %.1f s, p99 %.1f s, max %.1f s (n=%d) |", r.FailToRest.P50, r.FailToRest.P99, r.FailToRest.Max, r.FailToRest.N)
	p("| phase Failed → route 100/0 | p50 %.1f s, p99 %.1f s, max %.1f s (n=%d) |", r.FailedToRest.P50, r.FailedToRest.P99, r.FailedToRest.Max, r.FailedToRest.N)
	p("| monitor | %d samples every 200 ms, %d failed (API server down), longest gap %.1f s |", r.Samples, r.FailedSamples, r.MaxGapSeconds)
	p("| wall time | %.0f s (rollouts %.0f s); load average %s at start, %s at end |", r.WallSeconds, r.RolloutSeconds, r.LoadStart, r.LoadEnd)
	list := func(title string, xs []string) {
		if len(xs) == 0 {
			return
		}
		p("")
		p("%s:", title)
		for _, x := range xs {
			p("  - %s", x)
		}
	}
	list("wrong promotions", r.WrongPromotions)
	list("bad releases promoted", r.BadPromoted)
	list("good releases rolled back", r.GoodRolledBack)
	list("steps repeated or skipped", r.StepViolations)
	list("other violations", r.OtherViolations)
	list("final state", r.FinalState)
	list("controller crashes", r.Crashes)
	list("fault injection failures", r.InjectionFailures)
	list("faults", r.Events)
	p("")
	p("logs: %s/logs (siskin.log, siskin-replica-*.log)", r.StateDir)
}

func (r *Report) writeJSON(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// finalChecks looks at every app once the faults have stopped: the primary runs the last
// promoted version and the route sends it everything.
func finalChecks(ctx context.Context, env *framework.Env, apps []*app) []string {
	var out []string
	for _, a := range apps {
		a.mu.Lock()
		want := a.promoted
		a.mu.Unlock()
		got, err := env.DeploymentEnv(ctx, a.ns, a.name+"-primary")
		if err != nil {
			out = append(out, fmt.Sprintf("%s: %v", a.ns, err))
			continue
		}
		if got["VERSION"] != want {
			out = append(out, fmt.Sprintf("%s: primary runs %s at the end; last promoted %s", a.ns, got["VERSION"], want))
		}
		var vs networkingv1.VirtualService
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: a.ns, Name: a.name}, &vs); err != nil {
			out = append(out, fmt.Sprintf("%s: %v", a.ns, err))
			continue
		}
		if p, c := routeWeights(&vs, a.ns, a.name); p != 100 || c != 0 {
			out = append(out, fmt.Sprintf("%s: route %d/%d at the end", a.ns, p, c))
		}
	}
	return out
}

// crashes returns the lines of the controllers' logs that tell of a panic or a fatal error: a
// process that died on its own, not by a SIGKILL of the run.
func crashes(stateDir string) []string {
	files, _ := filepath.Glob(filepath.Join(stateDir, "logs", "siskin*.log"))
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "panic:") || strings.HasPrefix(line, "fatal error:") || strings.Contains(line, "Observed a panic") {
				out = append(out, filepath.Base(f)+": "+line)
			}
		}
	}
	return out
}

// loadAverage is the first three fields of /proc/loadavg.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
