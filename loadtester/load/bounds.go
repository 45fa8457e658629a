package load

import (
	"fmt"
	"strings"
)

// Bounds are the limits a blocking run must stay within. A nil field is not checked.
type Bounds struct {
	// MaxErrorRate is the largest acceptable error rate, in percent.
	MaxErrorRate *float64 `json:"maxErrorRate,omitempty"`
	MaxP50Ms     *float64 `json:"maxP50Ms,omitempty"`
	MaxP90Ms     *float64 `json:"maxP90Ms,omitempty"`
	MaxP99Ms     *float64 `json:"maxP99Ms,omitempty"`
	// MinRequests is the fewest completed requests that make a verdict meaningful.
	MinRequests *int64 `json:"minRequests,omitempty"`
}

// Declared reports whether any bound is set.
func (b Bounds) Declared() bool {
	return b.MaxErrorRate != nil || b.MaxP50Ms != nil || b.MaxP90Ms != nil || b.MaxP99Ms != nil ||
		b.MinRequests != nil
}

// Check returns one sentence per violated bound; none means the run passed. A run that
// completed no request always fails.
func (b Bounds) Check(r Result) []string {
	var out []string
	if r.Requests == 0 {
		return append(out, "no request completed")
	}
	if b.MinRequests != nil && r.Requests < *b.MinRequests {
		out = append(out, fmt.Sprintf("%d requests completed, fewer than minRequests %d", r.Requests, *b.MinRequests))
	}
	if b.MaxErrorRate != nil && r.ErrorRate > *b.MaxErrorRate {
		out = append(out, fmt.Sprintf("error rate %.2f%% above maxErrorRate %g%%", r.ErrorRate, *b.MaxErrorRate))
	}
	for _, c := range []struct {
		name  string
		got   float64
		limit *float64
	}{{"p50", r.P50Ms, b.MaxP50Ms}, {"p90", r.P90Ms, b.MaxP90Ms}, {"p99", r.P99Ms, b.MaxP99Ms}} {
		if c.limit != nil && c.got > *c.limit {
			out = append(out, fmt.Sprintf("%s latency %.2fms above max%sMs %gms", c.name, c.got, strings.ToUpper(c.name[:1])+c.name[1:], *c.limit))
		}
	}
	return out
}
