package main

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/stat/distuv"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// stats summarises one cell judged one way.
type stats struct {
	n, rolledBack int
	// ttd are the seconds from the canary's first traffic to each rollback decision (ttdErrors
	// those of the rollbacks the error comparison named), promo the seconds from the rollout's
	// start to each promotion decision.
	ttd, ttdErrors, promo []float64
	// harm is the mean harm per release (see traffic.harm).
	harm float64
	// onErrors and onLatency count the rollbacks whose regression evidence named the error
	// comparison and the latency comparison (one look can name both).
	onErrors, onLatency int
	// noVerdict counts promotions whose comparison had not decided every metric, early the
	// promotions by early pass, waited those that waited for the minimum evidence, none the
	// releases without a decision within the horizon.
	noVerdict, early, waited, none int
}

func summarise(outs []outcome) stats {
	s := stats{n: len(outs)}
	for _, o := range outs {
		s.harm += o.harm
		switch {
		case o.decided < 0:
			s.none++
		case o.rolledBack:
			s.rolledBack++
			from := o.first
			if from < 0 {
				from = o.start
			}
			s.ttd = append(s.ttd, float64(o.decided-from))
			if o.reason == siskinv1.ReasonRegressionDetected {
				if strings.Contains(o.detail, siskinv1.MetricRequestSuccessRate+":") {
					s.onErrors++
					s.ttdErrors = append(s.ttdErrors, float64(o.decided-from))
				}
				if strings.Contains(o.detail, siskinv1.MetricRequestDuration+":") {
					s.onLatency++
				}
			}
		default:
			s.promo = append(s.promo, float64(o.decided-o.start))
			if o.verdict != "" && o.verdict != siskinv1.ComparisonNotWorse {
				s.noVerdict++
			}
			if o.reason == siskinv1.ReasonEarlyPass {
				s.early++
			}
		}
		if o.waited {
			s.waited++
		}
	}
	if s.n > 0 {
		s.harm /= float64(s.n)
	}
	return s
}

func (s stats) rate() float64 { return share(s.rolledBack, s.n) }

func share(k, n int) float64 { return float64(k) / float64(max(n, 1)) }

// rollbacks writes a rollback rate; with by, the number of sequential rollbacks named by each
// compared metric too.
func (s stats) rollbacks(by bool) string {
	out := pct(s.rate())
	if by && s.rolledBack > 0 {
		return fmt.Sprintf("%s (%d: %d errors, %d latency)", out, s.rolledBack, s.onErrors, s.onLatency)
	}
	return fmt.Sprintf("%s (%d)", out, s.rolledBack)
}

// upper is the one-sided 95% Clopper–Pearson upper bound of the rollback rate.
func (s stats) upper() float64 {
	if s.rolledBack >= s.n {
		return 1
	}
	return distuv.Beta{Alpha: float64(s.rolledBack + 1), Beta: float64(s.n - s.rolledBack)}.Quantile(0.95)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	ys := slices.Clone(xs)
	slices.Sort(ys)
	n := len(ys)
	if n%2 == 1 {
		return ys[n/2]
	}
	return (ys[n/2-1] + ys[n/2]) / 2
}

func pct(x float64) string {
	switch {
	case x == 0:
		return "0"
	case x < 0.1:
		return fmt.Sprintf("%.2f%%", 100*x)
	}
	return fmt.Sprintf("%.0f%%", 100*x)
}

func secs(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.0fs", x)
}

func count(x float64) string {
	if x < 10 {
		return fmt.Sprintf("%.1f", x)
	}
	return fmt.Sprintf("%.0f", x)
}

// report writes the tables of every schedule and the targets.
func report(w *strings.Builder, cs []*cell) {
	for _, s := range schedulesOf(cs) {
		fmt.Fprintf(w, "\n#### Schedule (%s) — %s\n\n", s.name, s.title)
		goodTable(w, cs, s.name)
		regressionTable(w, cs, s.name)
	}
	targets(w, cs)
}

func schedulesOf(cs []*cell) []schedule {
	var out []schedule
	for _, c := range cs {
		if !slices.ContainsFunc(out, func(s schedule) bool { return s.name == c.sched.name }) {
			out = append(out, c.sched)
		}
	}
	return out
}

func goodTable(w *strings.Builder, cs []*cell, sched string) {
	if !slices.ContainsFunc(cs, func(c *cell) bool { return c.sched.name == sched && c.rel.good() }) {
		return
	}
	fmt.Fprintln(w, "Good releases (A/A): false rollbacks (count; for the sequential mode, how many the error and the latency comparison each named), median time from the rollout's start to the promotion decision, and the share of sequential releases promoted without a verdict on every compared metric (nothing decided), promoted by early pass, and held at the promotion for the comparison's minRequests.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| release | rps | n | false rb threshold | false rb fixed | false rb sequential | promotion threshold | promotion fixed | promotion sequential | seq. no verdict | seq. early pass | seq. waited for minRequests |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cs {
		if c.sched.name != sched || !c.rel.good() {
			continue
		}
		var st [nModes]stats
		for m := range nModes {
			st[m] = summarise(c.res[m])
		}
		row := []string{c.rel.name, fmt.Sprintf("%g", c.model.rps), fmt.Sprint(c.n)}
		for m := range nModes {
			row = append(row, st[m].rollbacks(m == modeSequential))
		}
		for m := range nModes {
			row = append(row, secs(median(st[m].promo)))
		}
		sq := st[modeSequential]
		row = append(row, pct(float64(sq.noVerdict)/float64(sq.n)), pct(float64(sq.early)/float64(sq.n)), pct(float64(sq.waited)/float64(sq.n)))
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
	fmt.Fprintln(w)
}

func regressionTable(w *strings.Builder, cs []*cell, sched string) {
	if !slices.ContainsFunc(cs, func(c *cell) bool { return c.sched.name == sched && !c.rel.good() }) {
		return
	}
	fmt.Fprintln(w, "Regressions: share rolled back (count; for the sequential mode, how many rollbacks the error and the latency comparison each named), median time from the canary's first traffic to the rollback decision, and the mean failed requests per release that the regression caused before the decision (for latency: requests slower than 500 ms above a good canary's).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| release | rps | n | caught threshold | caught fixed | caught sequential | detect threshold | detect fixed | detect sequential | harm threshold | harm fixed | harm sequential | seq. no verdict |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range cs {
		if c.sched.name != sched || c.rel.good() {
			continue
		}
		var st [nModes]stats
		for m := range nModes {
			st[m] = summarise(c.res[m])
		}
		row := []string{c.rel.name, fmt.Sprintf("%g", c.model.rps), fmt.Sprint(c.n)}
		for m := range nModes {
			row = append(row, st[m].rollbacks(m == modeSequential))
		}
		for m := range nModes {
			row = append(row, secs(median(st[m].ttd)))
		}
		for m := range nModes {
			row = append(row, count(st[m].harm))
		}
		sq := st[modeSequential]
		row = append(row, pct(float64(sq.noVerdict)/float64(sq.n)))
		fmt.Fprintln(w, "| "+strings.Join(row, " | ")+" |")
	}
	fmt.Fprintln(w)
}

// find returns the cell of a schedule, release and rate, or nil.
func find(cs []*cell, sched, rel string, rps float64) *cell {
	for _, c := range cs {
		if c.sched.name == sched && c.rel.name == rel && c.model.rps == rps {
			return c
		}
	}
	return nil
}

// markNamed marks an error-regression target: met when the error comparison met it, and said
// so when only the rollbacks the latency comparison made (a canary's warm-up) met it.
func markNamed(all, named bool) string {
	switch {
	case named:
		return "met"
	case all:
		return "met only through latency rollbacks"
	}
	return "MISSED"
}

func mark(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// targets compares the figures with the targets of the comparison; nothing is asserted.
func targets(w *strings.Builder, cs []*cell) {
	fmt.Fprintln(w, "#### Targets")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| target | figure | |")
	fmt.Fprintln(w, "|---|---|---|")

	// False rollbacks of good releases at most alpha in every cell.
	for _, m := range []mode{modeFixed, modeSequential} {
		worst, where, cellsOver := -1.0, "", 0
		var st stats
		for _, c := range cs {
			if !c.rel.good() {
				continue
			}
			s := summarise(c.res[m])
			if s.rate() > alpha {
				cellsOver++
			}
			if s.rate() > worst {
				worst, where, st = s.rate(), fmt.Sprintf("(%s) %s at %g rps", c.sched.name, c.rel.name, c.model.rps), s
			}
		}
		if worst >= 0 {
			fmt.Fprintf(w, "| %s: false rollbacks ≤ α = %g in every A/A cell | worst %s, %s (%d/%d, 95%% upper bound %s); %d cells above α | %s |\n",
				m, alpha, pct(worst), where, st.rolledBack, st.n, pct(st.upper()), cellsOver, mark(cellsOver == 0))
		}
	}

	if c := find(cs, "a", "errors ×2 over 0.3%", 500); c != nil {
		s := summarise(c.res[modeSequential])
		all := s.rate() >= 0.95 && median(s.ttd) <= 90
		named := share(s.onErrors, s.n) >= 0.95 && median(s.ttdErrors) <= 90
		fmt.Fprintf(w, "| ×2 over 0.3%% at 500 rps, schedule (a): caught ≥ 95%%, median time to detect ≤ 90 s | caught %s, median %s; named by the error comparison %s, median %s | %s |\n",
			pct(s.rate()), secs(median(s.ttd)), pct(share(s.onErrors, s.n)), secs(median(s.ttdErrors)), markNamed(all, named))
	}

	for _, base := range []string{"0.3%", "0.8%"} {
		c := find(cs, "a", "errors ×5 over "+base, 50)
		if c == nil {
			continue
		}
		s, t := summarise(c.res[modeSequential]), summarise(c.res[modeThreshold])
		faster := func(ttd []float64) bool { return median(ttd) <= median(t.ttd)/3 || (len(t.ttd) == 0 && len(ttd) > 0) }
		all := s.rate() >= 0.99 && faster(s.ttd) && s.harm <= t.harm/3
		named := share(s.onErrors, s.n) >= 0.99 && faster(s.ttdErrors) && s.harm <= t.harm/3
		fmt.Fprintf(w, "| ×5 over %s at 50 rps, schedule (a): caught ≥ 99%%, time to detect and failed requests ≤ ⅓ of threshold mode's | caught %s (%s named by the error comparison; threshold %s); median %s vs %s; failed requests %s vs %s | %s |\n",
			base, pct(s.rate()), pct(share(s.onErrors, s.n)), pct(t.rate()), secs(median(s.ttd)), secs(median(t.ttd)), count(s.harm), count(t.harm), markNamed(all, named))
	}

	var behind []string
	worst := math.Inf(-1)
	for _, c := range cs {
		if c.rel.good() {
			continue
		}
		d := summarise(c.res[modeFixed]).rate() - summarise(c.res[modeSequential]).rate()
		worst = max(worst, d)
		if d > 0.10 {
			behind = append(behind, fmt.Sprintf("(%s) %s at %g rps: %s behind", c.sched.name, c.rel.name, c.model.rps, pct(d)))
		}
	}
	if !math.IsInf(worst, -1) {
		fig := fmt.Sprintf("largest gap %s", pct(max(worst, 0)))
		if len(behind) > 0 {
			fig += "; " + strings.Join(behind, "; ")
		}
		fmt.Fprintf(w, "| sequential detection within 10 points of the fixed test in every regression cell | %s | %s |\n", fig, mark(len(behind) == 0))
	}

	for _, rel := range []string{"A/A, errors 0.3%", "A/A, errors 0.8%"} {
		c := find(cs, "b", rel, 500)
		if c == nil {
			continue
		}
		s, f := summarise(c.res[modeSequential]), summarise(c.res[modeFixed])
		ok := median(s.promo) <= median(f.promo)/2
		fmt.Fprintf(w, "| early pass, %s at 500 rps, schedule (b): promoted in ≤ ½ the fixed schedule | median %s vs fixed %s; %s by early pass | %s |\n",
			rel, secs(median(s.promo)), secs(median(f.promo)), pct(float64(s.early)/float64(s.n)), mark(ok))
	}
	fmt.Fprintln(w)
}
