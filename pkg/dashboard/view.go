package dashboard

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// maxTimeline bounds the timeline a page receives.
const maxTimeline = 300

// Health of a Canary, as the fleet page colours it.
const (
	healthHealthy     = "Healthy"
	healthProgressing = "Progressing"
	healthFailed      = "Failed"
	healthStalled     = "Stalled"
	healthUnknown     = "Unknown"
)

// Row is one Canary of the fleet page.
type Row struct {
	Namespace    string     `json:"namespace"`
	Name         string     `json:"name"`
	Phase        string     `json:"phase"`
	Weight       int32      `json:"weight"`
	Health       string     `json:"health"`
	Message      string     `json:"message"`
	FailedChecks int32      `json:"failedChecks"`
	Paused       bool       `json:"paused"`
	Revision     string     `json:"revision"`
	Target       string     `json:"target"`
	Since        *time.Time `json:"since,omitempty"`
	// Advice is set while the rollout waits for a person to decide.
	Advice *Advice `json:"advice,omitempty"`
}

// Detail is the Canary page.
type Detail struct {
	Row
	Provider       string                 `json:"provider"`
	Steps          []Step                 `json:"steps"`
	CurrentStep    int                    `json:"currentStep"`
	Iterations     int32                  `json:"iterations"`
	RolloutStart   *time.Time             `json:"rolloutStart,omitempty"`
	ManualRequests map[string]string      `json:"manualRequests"`
	Conditions     []metav1.Condition     `json:"conditions"`
	LastChecks     []siskinv1.CheckResult `json:"lastChecks"`
	Comparison     *Comparison            `json:"comparison,omitempty"`
	Timeline       []Entry                `json:"timeline"`
	Metrics        []Series               `json:"metrics"`
	Traffic        []trafficPoint         `json:"traffic"`
	Tree           []Node                 `json:"tree"`
	Hidden         []string               `json:"hidden,omitempty"`
}

// Entry is one line of the timeline: an Event, an analysis step with its checks, or a change
// of phase or weight seen by the watch.
type Entry struct {
	Time    time.Time    `json:"time"`
	Kind    string       `json:"kind"`
	Type    string       `json:"type,omitempty"`
	Reason  string       `json:"reason,omitempty"`
	Message string       `json:"message"`
	Count   int32        `json:"count,omitempty"`
	Checks  []checkPoint `json:"checks,omitempty"`
}

// Series is one metric's values, one point per analysis step.
type Series struct {
	Name   string  `json:"name"`
	Points []Point `json:"points"`
}

// Point is a metric's value at one step, with the bounds it was checked against.
type Point struct {
	Time    time.Time `json:"time"`
	Step    int       `json:"step"`
	Weight  int32     `json:"weight"`
	Value   *float64  `json:"value"`
	Min     *float64  `json:"min,omitempty"`
	Max     *float64  `json:"max,omitempty"`
	Verdict string    `json:"verdict"`
}

// Node is an object of the Canary's tree.
type Node struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Status   string `json:"status"`
	Detail   string `json:"detail"`
	Problem  bool   `json:"problem,omitempty"`
	Children []Node `json:"children,omitempty"`
}

func rowOf(c *siskinv1.Canary) Row {
	st := &c.Status
	r := Row{
		Namespace: c.Namespace, Name: c.Name, Phase: string(st.Phase), Weight: st.CanaryWeight,
		FailedChecks: st.FailedChecks, Paused: st.Paused, Revision: shortRev(st.LastAppliedSpec),
		Target: c.Spec.TargetRef.Kind + "/" + c.Spec.TargetRef.Name, Health: healthOf(c),
		Advice: adviceOf(c),
	}
	if r.Phase == "" {
		r.Phase = "Pending"
	}
	if ready := apimeta.FindStatusCondition(st.Conditions, siskinv1.ConditionReady); ready != nil {
		r.Message = ready.Message
	}
	if st.LastTransitionTime != nil {
		t := st.LastTransitionTime.Time
		r.Since = &t
	}
	return r
}

func healthOf(c *siskinv1.Canary) string {
	st := &c.Status
	switch {
	case apimeta.IsStatusConditionTrue(st.Conditions, siskinv1.ConditionStalled):
		return healthStalled
	case st.Phase == siskinv1.PhaseFailed:
		return healthFailed
	case slices.Contains([]siskinv1.CanaryPhase{siskinv1.PhaseWaiting, siskinv1.PhaseProgressing,
		siskinv1.PhaseWaitingPromotion, siskinv1.PhasePromoting, siskinv1.PhaseFinalising,
		siskinv1.PhaseInitializing, siskinv1.PhaseTerminating}, st.Phase):
		return healthProgressing
	case apimeta.IsStatusConditionTrue(st.Conditions, siskinv1.ConditionReady):
		return healthHealthy
	}
	return healthUnknown
}

func shortRev(fp string) string {
	if len(fp) > 10 {
		return fp[:10]
	}
	return fp
}

// fleet lists the Canaries the caller may list.
func (s *Server) fleet(ctx context.Context, who *caller) ([]Row, error) {
	list := &siskinv1.CanaryList{}
	if err := s.cache.List(ctx, list); err != nil {
		return nil, err
	}
	all, err := s.authz.allowed(ctx, who, access{Verb: "list", Group: siskinv1.GroupVersion.Group, Resource: "canaries", Namespace: s.opts.Namespace})
	if err != nil {
		return nil, err
	}
	byNS := map[string]bool{}
	rows := make([]Row, 0, len(list.Items))
	for i := range list.Items {
		c := &list.Items[i]
		if !all {
			ok, seen := byNS[c.Namespace]
			if !seen {
				ok, err = s.authz.allowed(ctx, who, access{Verb: "list", Group: siskinv1.GroupVersion.Group, Resource: "canaries", Namespace: c.Namespace})
				if err != nil {
					return nil, err
				}
				byNS[c.Namespace] = ok
			}
			if !ok {
				continue
			}
		}
		rows = append(rows, rowOf(c))
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Namespace != rows[j].Namespace {
			return rows[i].Namespace < rows[j].Namespace
		}
		return rows[i].Name < rows[j].Name
	})
	return rows, nil
}

// errForbidden means the caller may not see or do what they asked.
type errForbidden struct{ access access }

func (e errForbidden) Error() string { return "forbidden: you may not " + e.access.String() }

// detail builds the Canary page, or returns errForbidden or a NotFound error.
func (s *Server) detail(ctx context.Context, who *caller, key types.NamespacedName) (*Detail, error) {
	acc := access{Verb: "get", Group: siskinv1.GroupVersion.Group, Resource: "canaries", Namespace: key.Namespace, Name: key.Name}
	if ok, err := s.authz.allowed(ctx, who, acc); err != nil {
		return nil, err
	} else if !ok {
		return nil, errForbidden{acc}
	}
	c := &siskinv1.Canary{}
	if err := s.cache.Get(ctx, key, c); err != nil {
		return nil, err
	}
	st := &c.Status
	d := &Detail{
		Row: rowOf(c), Provider: c.Spec.Provider, Iterations: st.Iterations,
		ManualRequests: st.ManualRequests, Conditions: st.Conditions, LastChecks: st.LastChecks,
		Comparison: comparisonOf(st.Comparison),
	}
	if d.ManualRequests == nil {
		d.ManualRequests = map[string]string{}
	}
	if st.RolloutStartTime != nil {
		t := st.RolloutStartTime.Time
		d.RolloutStart = &t
	}
	steps, err := s.schedules.of(c, s.opts.DefaultProvider)
	if err != nil {
		d.Hidden = append(d.Hidden, err.Error())
	}
	d.Steps, d.CurrentStep = steps, currentStep(c, steps)
	traffic, checks := s.hub.history(key, c.UID)
	d.Traffic = traffic
	d.Metrics = series(checks)
	events, err := s.events(ctx, who, c)
	if err != nil {
		d.Hidden = append(d.Hidden, err.Error())
	}
	d.Timeline = timeline(events, traffic, checks)
	d.Tree, d.Hidden = s.tree(ctx, who, c, d.Hidden)
	return d, nil
}

// events returns the Events of Canary c, oldest first.
func (s *Server) events(ctx context.Context, who *caller, c *siskinv1.Canary) ([]corev1.Event, error) {
	if s.eventsUnwatched != "" {
		return nil, errors.New(s.eventsUnwatched)
	}
	acc := access{Verb: "list", Resource: "events", Namespace: c.Namespace}
	if ok, err := s.authz.allowed(ctx, who, acc); err != nil {
		return nil, err
	} else if !ok {
		return nil, errForbidden{acc}
	}
	list := &corev1.EventList{}
	if err := s.cache.List(ctx, list, client.InNamespace(c.Namespace)); err != nil {
		return nil, err
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.UID == c.UID || (e.InvolvedObject.UID == "" && e.InvolvedObject.Name == c.Name) {
			out = append(out, e)
		}
	}
	return out, nil
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// timeline merges Events, analysis steps and the phase and weight changes seen, oldest first.
func timeline(events []corev1.Event, traffic []trafficPoint, checks []checkPoint) []Entry {
	var out []Entry
	for i := range events {
		e := &events[i]
		count := e.Count
		if e.Series != nil && e.Series.Count > count {
			count = e.Series.Count
		}
		out = append(out, Entry{Time: eventTime(e), Kind: "event", Type: e.Type, Reason: e.Reason, Message: e.Message, Count: count})
	}
	for i, p := range traffic {
		msg := fmt.Sprintf("phase %s, canary weight %d%%", p.Phase, p.Weight)
		if i > 0 && traffic[i-1].Phase == p.Phase {
			msg = fmt.Sprintf("canary weight %d%% → %d%%", traffic[i-1].Weight, p.Weight)
		}
		out = append(out, Entry{Time: p.Time, Kind: "traffic", Message: msg})
	}
	for _, step := range steps(checks) {
		failed := 0
		for _, ch := range step {
			if ch.Verdict != siskinv1.VerdictPass {
				failed++
			}
		}
		msg := fmt.Sprintf("analysis step at weight %d%%: %d of %d checks passed", step[0].Weight, len(step)-failed, len(step))
		typ := corev1.EventTypeNormal
		if failed > 0 {
			typ = corev1.EventTypeWarning
		}
		out = append(out, Entry{Time: step[0].Time.Time, Kind: "step", Type: typ, Message: msg, Checks: step})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	if len(out) > maxTimeline {
		out = out[len(out)-maxTimeline:]
	}
	return out
}

// steps groups checks by the time of their step.
func steps(checks []checkPoint) [][]checkPoint {
	var out [][]checkPoint
	index := map[time.Time]int{}
	for _, ch := range checks {
		t := ch.Time.UTC()
		i, ok := index[t]
		if !ok {
			i = len(out)
			index[t] = i
			out = append(out, nil)
		}
		out[i] = append(out[i], ch)
	}
	return out
}

// series returns each metric's value per step, in the order the metrics were first seen.
func series(checks []checkPoint) []Series {
	var out []Series
	index := map[string]int{}
	for n, step := range steps(checks) {
		for _, ch := range step {
			if ch.Kind != "metric" {
				continue
			}
			i, ok := index[ch.Name]
			if !ok {
				i = len(out)
				index[ch.Name] = i
				out = append(out, Series{Name: ch.Name})
			}
			out[i].Points = append(out[i].Points, Point{
				Time: ch.Time.Time, Step: n + 1, Weight: ch.Weight, Verdict: string(ch.Verdict),
				Value: number(ch.Value), Min: number(ch.Min), Max: number(ch.Max),
			})
		}
	}
	return out
}

func number(s string) *float64 {
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil
	}
	return &f
}
