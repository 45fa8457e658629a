package dashboard

import (
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Comparison is the canary-versus-control evidence a Canary page shows: status.comparison
// without the tests' running state, which is the controller's, not for people.
type Comparison struct {
	Control      string           `json:"control"`
	Revision     string           `json:"revision"`
	Looks        int32            `json:"looks"`
	LastLookTime *time.Time       `json:"lastLookTime,omitempty"`
	Metrics      []ComparedMetric `json:"metrics"`
}

// ComparedMetric is the evidence about one compared metric.
type ComparedMetric struct {
	Name            string `json:"name"`
	Kind            string `json:"kind"`
	Verdict         string `json:"verdict"`
	CanaryRequests  int64  `json:"canaryRequests"`
	ControlRequests int64  `json:"controlRequests"`
	CanaryEvents    int64  `json:"canaryEvents"`
	ControlEvents   int64  `json:"controlEvents"`
	Threshold       string `json:"threshold,omitempty"`
	Ratio           string `json:"ratio,omitempty"`
	RatioLow        string `json:"ratioLow,omitempty"`
	RatioHigh       string `json:"ratioHigh,omitempty"`
	Evidence        string `json:"evidence,omitempty"`
	PassEvidence    string `json:"passEvidence,omitempty"`
	Message         string `json:"message,omitempty"`
}

// Advice is the question a paused rollout asks a person (status.advice), with what happens
// when nobody answers by the deadline.
type Advice struct {
	Since     time.Time `json:"since"`
	Reason    string    `json:"reason"`
	Message   string    `json:"message"`
	Deadline  time.Time `json:"deadline"`
	OnTimeout string    `json:"onTimeout"`
}

// comparisonOf copies the fields of status.comparison a person reads. The copy is field by
// field, so that a field added to the status later is not sent until it is chosen here.
func comparisonOf(cs *siskinv1.ComparisonStatus) *Comparison {
	if cs == nil {
		return nil
	}
	out := &Comparison{Control: cs.Control, Revision: shortRev(cs.Revision), Looks: cs.Looks, Metrics: make([]ComparedMetric, 0, len(cs.Metrics))}
	if cs.LastLookTime != nil {
		t := cs.LastLookTime.Time
		out.LastLookTime = &t
	}
	for _, m := range cs.Metrics {
		out.Metrics = append(out.Metrics, ComparedMetric{
			Name: m.Name, Kind: m.Kind, Verdict: string(m.Verdict),
			CanaryRequests: m.CanaryRequests, ControlRequests: m.ControlRequests,
			CanaryEvents: m.CanaryEvents, ControlEvents: m.ControlEvents, Threshold: m.Threshold,
			Ratio: m.Ratio, RatioLow: m.RatioLow, RatioHigh: m.RatioHigh,
			Evidence: m.Evidence, PassEvidence: m.PassEvidence, Message: m.Message,
		})
	}
	return out
}

// adviceOf is Canary c's open question, or nil.
func adviceOf(c *siskinv1.Canary) *Advice {
	a := c.Status.Advice
	if a == nil {
		return nil
	}
	onTimeout := siskinv1.AdviseRollback
	if an := c.Spec.Analysis; an != nil && an.Advise != nil && an.Advise.OnTimeout != "" {
		onTimeout = an.Advise.OnTimeout
	}
	return &Advice{Since: a.Since.Time, Reason: a.Reason, Message: a.Message, Deadline: a.Deadline.Time, OnTimeout: onTimeout}
}
