package metrics

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// checkKind is CheckResult.Kind of a metric check.
const checkKind = "metric"

// plan is a metric resolved for one step: where its queries run and what they are.
type plan struct {
	provider Provider
	query    string
	// minSample is nil when the metric declares none; sampleQuery is then empty.
	minSample   *MinSample
	sampleQuery string
	// clamped is true when the metric's window was shortened to the time since the revision
	// started receiving traffic (Step.Since).
	clamped bool
	// window is the metric's interval, after clamping: what {{ interval }} renders.
	window time.Duration
}

// check runs one metric's queries and judges the value.
func (a *Analyzer) check(ctx context.Context, step Step, m siskinv1.CanaryMetric) siskinv1.CheckResult {
	res := newResult(step, m)
	p, err := a.plan(ctx, step, m)
	if err != nil {
		res.Verdict, res.Message = siskinv1.VerdictError, fmt.Sprintf("%s: %v", m.Name, err)
		return res
	}
	res.Query = truncate(p.query, maxRecordedQuery)
	ctx = WithWindow(ctx, p.window) // for backends whose query has no window of its own

	sample := ""
	if p.minSample != nil {
		n, err := p.provider.Query(ctx, p.sampleQuery)
		if err == nil {
			err = finite(n.Value) // NaN would be below no min sample, and +Inf above any
		}
		switch {
		case errors.Is(err, ErrNoData):
			n.Value = 0 // no requests at all
		case err != nil:
			res.Verdict, res.Message = siskinv1.VerdictError, queryFailed(ctx, m.Name+" min sample", err)
			return res
		}
		if n.Value < p.minSample.Min {
			res.Verdict = siskinv1.VerdictNoData
			res.Message = fmt.Sprintf("%s waiting for data: sample %s below min sample %s",
				m.Name, formatValue(n.Value), formatFloat(p.minSample.Min))
			return res
		}
		sample = fmt.Sprintf(" (sample %s)", formatValue(n.Value))
	}

	s, err := p.provider.Query(ctx, p.query)
	if err == nil {
		err = finite(s.Value) // whatever the provider: +Inf must not pass a min
	}
	var nonFinite *NonFiniteError
	switch {
	case step.NoTraffic && errors.Is(err, ErrNoData) && (!errors.As(err, &nonFinite) || math.IsNaN(nonFinite.Value)):
		// Nothing was measured because the route sends the canary nothing yet: that is not a
		// failed check, whatever the metric declares.
		res.Verdict = siskinv1.VerdictNoData
		res.Message = fmt.Sprintf("%s no data: the route sends the canary no traffic yet", m.Name)
		return res
	case p.clamped && errors.Is(err, ErrNoData) && (!errors.As(err, &nonFinite) || math.IsNaN(nonFinite.Value)):
		// The window was shortened to this revision's own traffic: no data yet is a wait.
		res.Verdict = siskinv1.VerdictNoData
		res.Message = fmt.Sprintf("%s no data yet: the window covers only the %s since this revision's rollout started", m.Name, step.Now.Sub(step.Since).Round(time.Second))
		return res
	case errors.As(err, &nonFinite) && p.minSample != nil:
		res.Verdict = siskinv1.VerdictNoData
		res.Message = fmt.Sprintf("%s no data: value is %s%s", m.Name, formatValue(nonFinite.Value), sample)
		return res
	case errors.Is(err, ErrNoData) && p.minSample != nil:
		res.Verdict = siskinv1.VerdictNoData
		res.Message = fmt.Sprintf("%s no data%s although the sample reached min sample %s",
			m.Name, sample, formatFloat(p.minSample.Min))
		return res
	case errors.As(err, &nonFinite) && !math.IsNaN(nonFinite.Value):
		// No data, as below; but ±Inf says something other than "no traffic".
		res.Verdict = siskinv1.VerdictFail
		res.Message = fmt.Sprintf("%s no data: value is %s", m.Name, formatValue(nonFinite.Value))
		return res
	case errors.Is(err, ErrNoData):
		// The Flagger model: without a declared minimum sample, no data fails the check.
		res.Verdict = siskinv1.VerdictFail
		res.Message = fmt.Sprintf("%s no data: the query returned no value (is the canary receiving traffic?)", m.Name)
		return res
	case err != nil:
		res.Verdict, res.Message = siskinv1.VerdictError, queryFailed(ctx, m.Name, err)
		return res
	}
	res.Value = formatValue(s.Value)
	res.Verdict, res.Message = boundsOf(m).judge(m.Name, s.Value)
	res.Message += sample
	return res
}

// queryFailed says why a query failed, naming the step deadline rather than a bare "context
// deadline exceeded" when that is the reason.
func queryFailed(ctx context.Context, what string, err error) string {
	if ctx.Err() != nil {
		return fmt.Sprintf("%s: %v", what, context.Cause(ctx))
	}
	return fmt.Sprintf("%s query failed: %v", what, err)
}

// plan resolves where the metric's queries run and renders them.
func (a *Analyzer) plan(ctx context.Context, step Step, m siskinv1.CanaryMetric) (plan, error) {
	c := step.Canary
	vars, clamped, err := varsFor(c, m, step)
	if err != nil {
		return plan{}, err
	}

	var (
		text string
		cfg  ProviderConfig
	)
	switch {
	case m.TemplateRef != nil:
		t, err := a.template(ctx, c, m.TemplateRef)
		if err != nil {
			return plan{}, err
		}
		if cfg, err = a.templateConfig(ctx, c, t); err != nil {
			return plan{}, err
		}
		text = t.Spec.Query
	case m.Query != "":
		text, cfg = m.Query, a.configFor(c.Spec.MetricsServer)
	default:
		if text, err = builtinFor(c, step.Router, m.Name); err != nil {
			return plan{}, err
		}
		cfg = a.configFor(c.Spec.MetricsServer)
	}
	if cfg.Address == "" && cfg.Type != TypeKeptn { // keptn reads the cluster's own API
		return plan{}, errors.New("no metrics server: set spec.metricsServer or the controller's --metrics-server")
	}

	p := plan{clamped: clamped}
	if p.window, err = time.ParseDuration(vars.Interval); err != nil {
		return plan{}, fmt.Errorf("interval %q: %w", vars.Interval, err)
	}
	if p.query, err = Render(ctx, text, vars); err != nil {
		return plan{}, err
	}
	ms, ok := step.MinSamples[m.Name]
	if m.MinSample != nil {
		ms, ok = MinSample{Query: m.MinSample.Query, Min: m.MinSample.Min}, true
	}
	if ok {
		sampleText := ms.Query
		if sampleText == "" {
			if m.TemplateRef != nil || m.Query != "" {
				return plan{}, errors.New("the min sample needs a query: only built-in metrics have a default")
			}
			if sampleText, err = builtinFor(c, step.Router, RequestCount); err != nil {
				return plan{}, err
			}
		}
		if p.sampleQuery, err = Render(ctx, sampleText, vars); err != nil {
			return plan{}, fmt.Errorf("min sample: %w", err)
		}
		p.minSample = &ms
	}
	if a.opts.Providers == nil {
		return plan{}, errors.New("no metric providers configured")
	}
	if p.provider, err = a.opts.Providers.Provider(cfg); err != nil {
		return plan{}, fmt.Errorf("metric provider %s: %w", cfg, err)
	}
	return p, nil
}

// varsFor returns the template variables of metric m of canary c at step, and whether the
// metric's window was shortened to start at step.Since.
func varsFor(c *siskinv1.Canary, m siskinv1.CanaryMetric, step Step) (Vars, bool, error) {
	d := DefaultInterval
	if m.Interval != "" {
		var err error
		if d, err = time.ParseDuration(m.Interval); err != nil {
			return Vars{}, false, fmt.Errorf("interval %q: %w", m.Interval, err)
		}
	}
	clamped := false
	if !step.Since.IsZero() && !step.Now.IsZero() {
		// Whole seconds, rounded up, at least one.
		if since := max(step.Now.Sub(step.Since), 0); since < d {
			d, clamped = max((since+time.Second-1).Truncate(time.Second), time.Second), true
		}
	}
	interval, err := PromDuration(d)
	if err != nil {
		return Vars{}, false, err
	}
	service := c.Spec.Service.Name
	if service == "" {
		service = c.Spec.TargetRef.Name
	}
	ingress := c.Spec.TargetRef.Name
	if c.Spec.IngressRef != nil && c.Spec.IngressRef.Name != "" {
		ingress = c.Spec.IngressRef.Name
	}
	return Vars{
		Name:      c.Name,
		Namespace: c.Namespace,
		Target:    c.Spec.TargetRef.Name,
		Service:   service,
		Ingress:   ingress,
		Interval:  interval,
		Variables: m.TemplateVariables,

		CanaryPods:  step.CanaryPods,
		PrimaryPods: step.PrimaryPods,
	}, clamped, nil
}

// template reads the MetricTemplate ref names, in the canary's namespace unless ref names one,
// which only AnalyzerOptions.AllowCrossNamespaceRefs permits.
func (a *Analyzer) template(ctx context.Context, c *siskinv1.Canary, ref *siskinv1.CrossNamespaceObjectReference) (*siskinv1.MetricTemplate, error) {
	ns := ref.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	if ns != c.Namespace && !a.opts.AllowCrossNamespaceRefs {
		return nil, fmt.Errorf("MetricTemplate %s/%s is in another namespace than the canary: cross-namespace references are refused unless the controller runs with --allow-cross-namespace-refs", ns, ref.Name)
	}
	if a.opts.Templates == nil {
		return nil, fmt.Errorf("MetricTemplate %s/%s: no template reader configured", ns, ref.Name)
	}
	t, err := a.opts.Templates.MetricTemplate(ctx, ns, ref.Name)
	if err != nil {
		return nil, fmt.Errorf("MetricTemplate %s/%s: %w", ns, ref.Name, err)
	}
	if t == nil {
		return nil, fmt.Errorf("MetricTemplate %s/%s not found", ns, ref.Name)
	}
	return t, nil
}

// configFor returns the provider configuration of address: the controller's default (with its
// credentials) when address is empty or the default's, else the bare address, so that the
// default's credentials never reach an address a user chose.
func (a *Analyzer) configFor(address string) ProviderConfig {
	def := a.opts.Default
	if address == "" || strings.TrimRight(address, "/") == strings.TrimRight(def.Address, "/") {
		def.Headers = def.Headers.Clone()
		if def.Type == "" {
			def.Type = "prometheus"
		}
		return def
	}
	return ProviderConfig{Type: "prometheus", Address: address}
}

// templateConfig returns the provider configuration of a MetricTemplate: its address (else the
// canary's metrics server, else the default), headers, TLS setting and Secret. A template of
// another backend than prometheus takes vendorConfig's rules instead.
//
// Credentials are only ever sent to the address written in the same object as the secretRef:
// a template with a secretRef and no provider.address is refused, because the address would
// come from the referencing Canary, whose author could point it at a server of their own and
// receive the template namespace's token. Likewise the controller's --metrics-server
// credentials go to its own address only (see configFor).
func (a *Analyzer) templateConfig(ctx context.Context, c *siskinv1.Canary, t *siskinv1.MetricTemplate) (ProviderConfig, error) {
	p := t.Spec.Provider
	if p.Type != "" && p.Type != TypePrometheus {
		return a.vendorConfig(ctx, t)
	}
	address := p.Address
	if address == "" && p.SecretRef != nil {
		return ProviderConfig{}, fmt.Errorf("MetricTemplate %s/%s has a secretRef but no provider.address: set provider.address beside secretRef; credentials are only sent to the address written in the same object",
			t.Namespace, t.Name)
	}
	if address == "" {
		address = c.Spec.MetricsServer
	}
	cfg := a.configFor(address)
	if len(p.Headers) > 0 && cfg.Headers == nil {
		cfg.Headers = http.Header{}
	}
	for k, vs := range p.Headers {
		cfg.Headers[http.CanonicalHeaderKey(k)] = slices.Clone(vs)
	}
	cfg.InsecureSkipVerify = cfg.InsecureSkipVerify || p.InsecureSkipVerify
	if p.SecretRef == nil {
		return cfg, nil
	}

	if a.opts.Secrets == nil {
		return ProviderConfig{}, fmt.Errorf("MetricTemplate %s/%s: no Secret reader configured", t.Namespace, t.Name)
	}
	data, err := a.opts.Secrets.SecretData(ctx, t.Namespace, p.SecretRef.Name)
	if err != nil {
		return ProviderConfig{}, fmt.Errorf("MetricTemplate %s/%s: Secret %s: %w", t.Namespace, t.Name, p.SecretRef.Name, err)
	}
	cfg.BearerToken, cfg.Username, cfg.Password = "", "", ""
	switch {
	case len(data["token"]) > 0:
		cfg.BearerToken = strings.TrimSpace(string(data["token"]))
	case len(data["username"]) > 0 && len(data["password"]) > 0:
		cfg.Username, cfg.Password = string(data["username"]), string(data["password"])
	default:
		return ProviderConfig{}, fmt.Errorf("MetricTemplate %s/%s: Secret %s has neither the key token nor the keys username and password",
			t.Namespace, t.Name, p.SecretRef.Name)
	}
	return cfg, nil
}

// bounds are a metric's thresholds; nil is no bound.
type bounds struct {
	min, max *float64
}

// boundsOf returns thresholdRange or, without one, the deprecated threshold with Flagger's
// meaning: a minimum for the built-in request-success-rate, a maximum for everything else (the
// built-in request-duration, templateRef and query metrics). Flagger ignores threshold when
// thresholdRange is set, and so does Siskin.
func boundsOf(m siskinv1.CanaryMetric) bounds {
	var b bounds
	switch {
	case m.ThresholdRange != nil:
		b.min, b.max = m.ThresholdRange.Min, m.ThresholdRange.Max
	case m.Threshold == nil:
	case m.Name == siskinv1.MetricRequestSuccessRate && m.TemplateRef == nil && m.Query == "":
		b.min = m.Threshold
	default:
		b.max = m.Threshold
	}
	return b
}

// judge returns the verdict of value v and a message that names the metric, the value and the
// bound it violated or kept.
func (b bounds) judge(name string, v float64) (siskinv1.CheckVerdict, string) {
	switch {
	case b.min != nil && v < *b.min:
		return siskinv1.VerdictFail, fmt.Sprintf("%s %s below min %s", name, formatAgainst(v, *b.min), formatFloat(*b.min))
	case b.max != nil && v > *b.max:
		return siskinv1.VerdictFail, fmt.Sprintf("%s %s above max %s", name, formatAgainst(v, *b.max), formatFloat(*b.max))
	case b.min != nil && b.max != nil:
		return siskinv1.VerdictPass, fmt.Sprintf("%s %s within min %s and max %s", name, formatValue(v), formatFloat(*b.min), formatFloat(*b.max))
	case b.min != nil:
		return siskinv1.VerdictPass, fmt.Sprintf("%s %s not below min %s", name, formatValue(v), formatFloat(*b.min))
	case b.max != nil:
		return siskinv1.VerdictPass, fmt.Sprintf("%s %s not above max %s", name, formatValue(v), formatFloat(*b.max))
	}
	return siskinv1.VerdictPass, fmt.Sprintf("%s %s (no threshold)", name, formatValue(v))
}

// formatValue formats a measured value with two decimals, or three significant digits when it
// is smaller than 0.01, so that small ratios do not read as zero.
func formatValue(v float64) string {
	switch {
	case math.IsNaN(v):
		return "NaN"
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case v == 0 || math.Abs(v) >= 0.01:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	digits := 2 - int(math.Floor(math.Log10(math.Abs(v))))
	return strconv.FormatFloat(v, 'f', digits, 64)
}

// formatAgainst formats a value that violated bound, in full when rounding would make it read
// as the bound itself (98.996 "below min 99").
func formatAgainst(v, bound float64) string {
	if s := formatValue(v); s != formatValue(bound) {
		return s
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// formatFloat formats a threshold as written: 99, 0.5.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// formatBound formats an optional threshold; nil is empty.
func formatBound(f *float64) string {
	if f == nil {
		return ""
	}
	return formatFloat(*f)
}

// maxRecordedQuery bounds the rendered query kept in status (the API allows 4096 bytes).
const maxRecordedQuery = 4000

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
