package canary

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/providers"
)

// This file holds what Siskin does with Flagger spellings and values it reads otherwise than
// they are written: the adjustments the SpecAdjusted condition lists, and the rewriting of
// deprecated match and CORS fields into the ones routers read.

// SupportedProviders names the providers Siskin has routers for, for messages.
var SupportedProviders = providers.Names(false)

// adjustments lists, in a fixed order, how the controller reads spec otherwise than it is
// written, the way Flagger does. Provider is the resolved provider (Provider's result).
func adjustments(spec *siskinv1.CanarySpec, provider string) []string {
	var notes []string
	a := spec.Analysis
	if a == nil {
		notes = append(notes, "spec.analysis is absent: new revisions are promoted without analysis, as with skipAnalysis: true (as in Flagger)")
		a = &siskinv1.CanaryAnalysis{}
	}
	if d, err := time.ParseDuration(a.Interval); err == nil && d > 0 && d < MinInterval {
		notes = append(notes, fmt.Sprintf("analysis.interval %s is below %s: the analysis runs every %s (as in Flagger)", a.Interval, MinInterval, MinInterval))
	}
	if !providers.Weighs(provider) && spec.Analysis != nil {
		if n := kubernetesIgnores(a); n != "" || a.Iterations <= 0 {
			note := fmt.Sprintf("provider %s cannot split traffic: the analysis runs blue/green with %d iterations", provider, kubernetesIterations(a))
			if a.Iterations <= 0 {
				note += " (analysis.iterations unset: 10)"
			}
			if n != "" {
				note += "; " + n + " ignored"
			}
			notes = append(notes, note+" (as in Flagger)")
		}
	}
	for i := range a.Metrics {
		if m := &a.Metrics[i]; m.Threshold != nil && m.ThresholdRange != nil {
			notes = append(notes, fmt.Sprintf("analysis.metrics[%s].threshold is ignored because thresholdRange is set (as in Flagger)", m.Name))
		}
	}
	notes = append(notes, foreignRouterFields(spec, provider)...)
	if as := spec.AutoscalerRef; as != nil && as.Kind != "ScaledObject" && len(as.PrimaryScalerQueries) > 0 {
		notes = append(notes, "autoscalerRef.primaryScalerQueries is for KEDA ScaledObjects and is ignored for a HorizontalPodAutoscaler (as in Flagger)")
	}
	return notes
}

// kubernetesIgnores names the analysis fields provider kubernetes cannot honour, "" for none.
func kubernetesIgnores(a *siskinv1.CanaryAnalysis) string {
	var fields []string
	if a.StepWeight > 0 {
		fields = append(fields, "analysis.stepWeight")
	}
	if len(a.StepWeights) > 0 {
		fields = append(fields, "analysis.stepWeights")
	}
	if a.MaxWeight != nil {
		fields = append(fields, "analysis.maxWeight")
	}
	if a.StepWeightPromotion > 0 {
		fields = append(fields, "analysis.stepWeightPromotion")
	}
	if len(a.Match) > 0 {
		fields = append(fields, "analysis.match")
	}
	if a.Mirror {
		fields = append(fields, "analysis.mirror")
	}
	if a.SessionAffinity != nil {
		fields = append(fields, "analysis.sessionAffinity")
	}
	return strings.Join(fields, ", ")
}

// kubernetesIterations is the number of blue/green iterations of provider kubernetes.
func kubernetesIterations(a *siskinv1.CanaryAnalysis) int32 {
	if a.Iterations > 0 {
		return a.Iterations
	}
	return defaultKubernetesIterations
}

// foreignRouterFields notes the fields of Flagger routers Siskin lacks that a Canary of a
// supported provider carries; Flagger ignores them for other providers too.
func foreignRouterFields(spec *siskinv1.CanarySpec, provider string) []string {
	var notes []string
	ignored := func(field, owner string) {
		notes = append(notes, fmt.Sprintf("%s is used only by Flagger's %s provider and is ignored with provider %s (as in Flagger)", field, owner, provider))
	}
	if info, _ := providers.Lookup(provider); spec.IngressRef != nil && !info.IngressRef {
		ignored("spec.ingressRef", "nginx or skipper")
	}
	if spec.RouteRef != nil {
		ignored("spec.routeRef", "apisix")
	}
	if spec.UpstreamRef != nil {
		ignored("spec.upstreamRef", "gloo")
	}
	if spec.Service.MeshName != "" || len(spec.Service.Backends) > 0 {
		ignored("service.meshName/backends", "appmesh")
	}
	return notes
}

// noteAdjustments keeps the SpecAdjusted condition in step with the spec, and announces a new
// or changed list of adjustments once (a Normal event, not an alert).
func (p *planner) noteAdjustments() {
	notes := adjustments(&p.c.Spec, p.set.provider)
	if len(notes) == 0 {
		meta.RemoveStatusCondition(&p.st.Conditions, siskinv1.ConditionSpecAdjusted)
		return
	}
	msg := strings.Join(notes, "; ")
	if prev := meta.FindStatusCondition(p.c.Status.Conditions, siskinv1.ConditionSpecAdjusted); prev == nil || prev.Message != msg {
		p.event(false, siskinv1.SeverityInfo, siskinv1.ReasonAdjustedAsFlagger, msg, true)
	}
	set(&p.st, p.c.Generation, stamp(p.now), siskinv1.ConditionSpecAdjusted, metav1.ConditionTrue, siskinv1.ReasonAdjustedAsFlagger, msg)
}

// isFlaggerOnlyProvider reports whether p names one of Flagger's routers that Siskin lacks.
func isFlaggerOnlyProvider(p string) bool {
	return slices.Contains(siskinv1.FlaggerOnlyProviders, p)
}

// SuffixRegex is the RE2 regular expression that matches exactly the strings ending in suffix,
// anchored at both ends so that it means the same under full-match (Istio, Envoy) and
// find-match implementations.
func SuffixRegex(suffix string) string {
	return "^.*" + regexp.QuoteMeta(suffix) + "$"
}

// RouterMatch is m as routers can express it: a suffix match, which neither Istio nor Gateway
// API has, becomes the equivalent anchored regex; any other match is returned unchanged.
func RouterMatch(m siskinv1.StringMatch) siskinv1.StringMatch {
	if m.Suffix == "" || m.Exact != "" || m.Prefix != "" || m.Regex != "" {
		return m
	}
	return siskinv1.StringMatch{Regex: SuffixRegex(m.Suffix)}
}

// CorsOrigins is allowOrigins followed by the deprecated allowOrigin entries as matches: each
// an exact match, except "*" (any origin), which becomes the regex .*.
func CorsOrigins(cp *siskinv1.CorsPolicy) []siskinv1.StringMatch {
	if cp == nil {
		return nil
	}
	out := make([]siskinv1.StringMatch, 0, len(cp.AllowOrigins)+len(cp.AllowOrigin))
	for _, m := range cp.AllowOrigins {
		out = append(out, RouterMatch(m))
	}
	for _, o := range cp.AllowOrigin {
		if o == "*" {
			out = append(out, siskinv1.StringMatch{Regex: ".*"})
			continue
		}
		out = append(out, siskinv1.StringMatch{Exact: o})
	}
	return out
}

// Normalize rewrites, in memory, Flagger's spellings that routers do not read into the ones
// they do: suffix matches (service.match, analysis.match, corsPolicy.allowOrigins) into
// anchored regexes, and the deprecated corsPolicy.allowOrigin into allowOrigins. The meaning
// is unchanged; the controller calls it on the Canary it has read, before anything uses the
// spec.
func Normalize(spec *siskinv1.CanarySpec) {
	normalizeMatches(spec.Service.Match)
	if spec.Analysis != nil {
		normalizeMatches(spec.Analysis.Match)
	}
	if cp := spec.Service.CorsPolicy; cp != nil && (len(cp.AllowOrigin) > 0 || hasSuffix(cp.AllowOrigins)) {
		cp.AllowOrigins, cp.AllowOrigin = CorsOrigins(cp), nil
	}
}

func normalizeMatches(ms []siskinv1.HTTPMatchRequest) {
	for i := range ms {
		m := &ms[i]
		for _, sm := range []**siskinv1.StringMatch{&m.URI, &m.Scheme, &m.Method, &m.Authority} {
			if *sm != nil && (*sm).Suffix != "" {
				r := RouterMatch(**sm)
				*sm = &r
			}
		}
		for _, kv := range []map[string]siskinv1.StringMatch{m.Headers, m.QueryParams, m.WithoutHeaders} {
			for k, v := range kv {
				kv[k] = RouterMatch(v)
			}
		}
	}
}

func hasSuffix(ms []siskinv1.StringMatch) bool {
	return slices.ContainsFunc(ms, func(m siskinv1.StringMatch) bool { return m.Suffix != "" })
}
