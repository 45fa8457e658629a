package canary

import (
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// wantAdjusted checks the SpecAdjusted condition: absent for "", else True with a message that
// contains every part.
func wantAdjusted(parts ...string) func(*testing.T, Decision) {
	return func(t *testing.T, d Decision) {
		t.Helper()
		c := meta.FindStatusCondition(d.Status.Conditions, siskinv1.ConditionSpecAdjusted)
		if len(parts) == 0 {
			if c != nil {
				t.Errorf("condition SpecAdjusted = %q, want none", c.Message)
			}
			return
		}
		if c == nil || c.Status != metav1.ConditionTrue || c.Reason != siskinv1.ReasonAdjustedAsFlagger {
			t.Fatalf("condition SpecAdjusted = %+v, want True/%s", c, siskinv1.ReasonAdjustedAsFlagger)
		}
		for _, p := range parts {
			if !strings.Contains(c.Message, p) {
				t.Errorf("SpecAdjusted message %q does not say %q", c.Message, p)
			}
		}
	}
}

// adjustedAlready records the SpecAdjusted condition a previous round wrote for c.
func adjustedAlready(c *siskinv1.Canary) {
	notes := adjustments(&c.Spec, Provider(&c.Spec, ""))
	set(&c.Status, c.Generation, metav1.NewTime(t0), siskinv1.ConditionSpecAdjusted, metav1.ConditionTrue, siskinv1.ReasonAdjustedAsFlagger, strings.Join(notes, "; "))
}

func kubernetesWeighted(c *siskinv1.Canary) {
	c.Spec.Provider = siskinv1.ProviderKubernetes
	c.Spec.Analysis.Match = []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}
}

var flaggerCases = []planCase{{
	name: "an analysis interval under 10s runs every 10s and says so, as in Flagger",
	canary: func(c *siskinv1.Canary) {
		c.Spec.Analysis.Interval = "5s"
		progressingStatus(c, 10)
	},
	at:      10 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased AdjustedAsFlagger(muted)",
	requeue: 10 * time.Second,
	check:   wantAdjusted("analysis.interval 5s is below 10s: the analysis runs every 10s"),
}, {
	name: "an analysis interval under 10s takes no step before 10s",
	canary: func(c *siskinv1.Canary) {
		c.Spec.Analysis.Interval = "5s"
		progressingStatus(c, 10)
		adjustedAlready(c)
	},
	at:      5 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  10,
	requeue: 5 * time.Second,
	check:   wantAdjusted("analysis.interval 5s"),
}, {
	name: "an adjustment already in the SpecAdjusted condition is not announced again",
	canary: func(c *siskinv1.Canary) {
		c.Spec.Analysis.Interval = "5s"
		progressingStatus(c, 10)
		adjustedAlready(c)
	},
	at:      10 * time.Second,
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: 10 * time.Second,
}, {
	name: "a spec without adjustments removes the SpecAdjusted condition",
	canary: func(c *siskinv1.Canary) {
		c.Spec.Analysis.Interval = "5s"
		progressingStatus(c, 10)
		adjustedAlready(c)
		c.Spec.Analysis.Interval = "1m"
	},
	phase:   siskinv1.PhaseProgressing,
	weight:  20,
	actions: "SetRoute(80/20)",
	events:  "StepWeightIncreased",
	requeue: time.Minute,
	check:   wantAdjusted(),
}, {
	name: "provider kubernetes with stepWeight and match runs blue/green iterations instead, as in Flagger",
	canary: func(c *siskinv1.Canary) {
		kubernetesWeighted(c)
		progressingStatus(c, 0)
		c.Status.Iterations = 3
	},
	phase:   siskinv1.PhaseProgressing,
	events:  "IterationCompleted AdjustedAsFlagger(muted)",
	requeue: time.Minute,
	check: all(wantEventText(siskinv1.ReasonIterationCompleted, "iteration 4/10 passed"),
		wantAdjusted("provider kubernetes cannot split traffic: the analysis runs blue/green with 10 iterations (analysis.iterations unset: 10)",
			"analysis.stepWeight, analysis.maxWeight, analysis.match ignored")),
}, {
	name: "provider kubernetes promotes after its ten iterations without shifting traffic",
	canary: func(c *siskinv1.Canary) {
		kubernetesWeighted(c)
		progressingStatus(c, 0)
		c.Status.Iterations = 10
		adjustedAlready(c)
	},
	phase:   siskinv1.PhasePromoting,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}, {
	name: "a Canary without analysis starts a new revision to promote it without analysis, as in Flagger",
	canary: func(c *siskinv1.Canary) {
		restingStatus(c, siskinv1.PhaseSucceeded)
		c.Spec.Analysis = nil
	},
	obs:     target(revNew),
	phase:   siskinv1.PhaseProgressing,
	actions: "ScaleTargetUp",
	events:  "NewRevision AdjustedAsFlagger(muted)",
	requeue: time.Minute,
	check:   wantAdjusted("spec.analysis is absent: new revisions are promoted without analysis"),
}, {
	name: "a Canary without analysis promotes once the canary is ready",
	canary: func(c *siskinv1.Canary) {
		progressingStatus(c, 0)
		c.Spec.Analysis = nil
		adjustedAlready(c)
	},
	phase:   siskinv1.PhasePromoting,
	actions: "Promote(rev-2)",
	events:  "PromotionStarted",
	requeue: 10 * time.Minute,
}}

func TestPlanFlaggerMeanings(t *testing.T) {
	for _, tc := range flaggerCases {
		t.Run(tc.name, func(t *testing.T) { runPlanCase(t, tc) })
	}
}

func TestValidateAcceptsFlaggerValues(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(c *siskinv1.Canary)
		provider string
	}{
		{"an interval under 10s", func(c *siskinv1.Canary) { c.Spec.Analysis.Interval = "5s" }, ""},
		{"provider kubernetes with stepWeight", func(c *siskinv1.Canary) { c.Spec.Provider = siskinv1.ProviderKubernetes }, ""},
		{"provider kubernetes with stepWeights", func(c *siskinv1.Canary) {
			c.Spec.Provider, c.Spec.Analysis.StepWeight, c.Spec.Analysis.StepWeights = siskinv1.ProviderKubernetes, 0, []int32{10, 50}
		}, ""},
		{"provider kubernetes with match and no iterations", kubernetesWeighted, ""},
		{"the controller's default provider kubernetes with stepWeight", func(c *siskinv1.Canary) { c.Spec.Provider = "" }, siskinv1.ProviderKubernetes},
		{"no analysis", func(c *siskinv1.Canary) { c.Spec.Analysis = nil }, ""},
		{"a DaemonSet target", func(c *siskinv1.Canary) { c.Spec.TargetRef.Kind = "DaemonSet" }, ""},
		{"provider nginx with a header and a cookie", func(c *siskinv1.Canary) {
			nginx(c)
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-canary": {Regex: "^insider$"}}},
				{Headers: map[string]siskinv1.StringMatch{"cookie": {Exact: "canary"}}},
			}}
		}, ""},
		{"fields of routers Siskin lacks beside a supported provider", func(c *siskinv1.Canary) {
			c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{Kind: "Ingress", Name: "podinfo"}
			c.Spec.Service.MeshName, c.Spec.Service.Backends = "global", []string{"backend.test"}
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			tc.edit(c)
			if err := Validate(&c.Spec, tc.provider); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
}

func TestValidateRefusesWhatSiskinCannotRunAndSaysWhatToWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		edit     func(c *siskinv1.Canary)
		provider string
		want     string
	}{
		{"a Flagger router Siskin lacks", func(c *siskinv1.Canary) { c.Spec.Provider = "kuma" }, "",
			"provider kuma is a Flagger router that Siskin does not have: set spec.provider to istio, gatewayapi (or gatewayapi:v1, gatewayapi:v1beta1, gatewayapi:envoy, "},
		{"a Flagger router Siskin lacks as the controller's default", func(c *siskinv1.Canary) { c.Spec.Provider = "" }, "smi:v1alpha3",
			"provider smi:v1alpha3 is a Flagger router that Siskin does not have"},
		{"nginx without its ingressRef", func(c *siskinv1.Canary) { c.Spec.Provider = "" }, "nginx",
			"provider nginx needs spec.ingressRef"},
		{"nginx mirroring", func(c *siskinv1.Canary) {
			nginx(c)
			c.Spec.Analysis.Mirror = true
		}, "", "provider nginx cannot mirror traffic"},
		{"nginx matching two headers", func(c *siskinv1.Canary) {
			nginx(c)
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}},
				{Headers: map[string]siskinv1.StringMatch{"x-b": {Exact: "2"}}},
			}}
		}, "", "provider nginx routes at most one header and one cookie"},
		{"nginx matching a cookie by a regex", func(c *siskinv1.Canary) {
			nginx(c)
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{Headers: map[string]siskinv1.StringMatch{"cookie": {Regex: "^(.*?;)?(canary=always)(;.*)?$"}}},
			}}
		}, "", "provider nginx matches a cookie by its name"},
		{"nginx matching a header and a path", func(c *siskinv1.Canary) {
			nginx(c)
			c.Spec.Analysis = &siskinv1.CanaryAnalysis{Interval: "1m", Iterations: 5, Match: []siskinv1.HTTPMatchRequest{
				{URI: &siskinv1.StringMatch{Prefix: "/api"}, Headers: map[string]siskinv1.StringMatch{"x-a": {Exact: "1"}}},
			}}
		}, "", "provider nginx matches one header or one cookie per match"},
		{"nginx with a baseline", func(c *siskinv1.Canary) {
			nginx(c)
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
		}, "", "provider nginx routes one canary Ingress"},
		{"an unknown provider", func(c *siskinv1.Canary) { c.Spec.Provider = "cilium" }, "", `provider "cilium" is not supported: set spec.provider to istio`},
		{"the deprecated canaryAnalysis", func(c *siskinv1.Canary) {
			c.Spec.CanaryAnalysis = &runtime.RawExtension{Raw: []byte(`{"interval":"1m"}`)}
		}, "", "rename canaryAnalysis to analysis"},
		{"match without iterations on istio", func(c *siskinv1.Canary) {
			c.Spec.Analysis.Match = []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}
		}, "", "analysis.match (A/B testing) needs analysis.iterations"},
		{"a baseline on provider kubernetes", func(c *siskinv1.Canary) {
			c.Spec.Provider = siskinv1.ProviderKubernetes
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
		}, "", "analysis.comparison.control baseline needs a router that splits traffic three ways"},
		{"a baseline beside a DaemonSet", func(c *siskinv1.Canary) {
			c.Spec.TargetRef.Kind = "DaemonSet"
			comparing(c, func(cmp *siskinv1.CanaryComparison) { cmp.Control = siskinv1.ControlBaseline })
		}, "", "a DaemonSet target has no baseline: compare with control primary"},
		{"an autoscaler for a DaemonSet", func(c *siskinv1.Canary) {
			c.Spec.TargetRef.Kind = "DaemonSet"
			c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"}
		}, "", "a DaemonSet target runs one pod a node and takes no autoscalerRef"},
		{"a StatefulSet behind a mesh router", func(c *siskinv1.Canary) {
			c.Spec.TargetRef.Kind = "StatefulSet"
			c.Spec.Provider = siskinv1.ProviderIstio
		}, "", "a StatefulSet is updated in place, pod by pod, and its traffic follows its pods: provider istio cannot route between its revisions"},
		{"a StatefulSet with an autoscaler", func(c *siskinv1.Canary) {
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.TargetRef.Kind = "StatefulSet"
			c.Spec.Provider = ""
			c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"}
		}, siskinv1.ProviderIstio, "a StatefulSet target is rolled out in place and keeps its own autoscaler"},
		{"A/B testing of a StatefulSet", func(c *siskinv1.Canary) {
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.TargetRef.Kind = "StatefulSet"
			c.Spec.Provider = ""
			c.Spec.Analysis.Iterations = 5
			c.Spec.Analysis.Match = []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x-canary": {Exact: "insider"}}}}
		}, "", "a StatefulSet target shares pods, not requests, and cannot route by header or cookie"},
		{"a mirrored worker", func(c *siskinv1.Canary) {
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.Provider = siskinv1.ProviderReplicas
			c.Spec.Analysis.Mirror = true
		}, "", "provider replicas shares pods, not requests, and cannot mirror traffic"},
		{"a compared worker", func(c *siskinv1.Canary) {
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.Provider = siskinv1.ProviderReplicas
			comparing(c, func(cmp *siskinv1.CanaryComparison) {})
		}, "", "the compared metrics cannot count each version apart"},
		{"a blue/green worker", func(c *siskinv1.Canary) {
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.Provider = siskinv1.ProviderReplicas
			c.Spec.Analysis.StepWeight, c.Spec.Analysis.StepWeights = 0, nil
			c.Spec.Analysis.Iterations = 5
		}, "", "set analysis.stepWeight or analysis.stepWeights (iterations alone is blue/green, which needs a router)"},
		{"Services for a worker", func(c *siskinv1.Canary) {
			c.Spec.Provider = siskinv1.ProviderReplicas
			c.Spec.Service = siskinv1.CanaryService{Port: 8080}
		}, "", "provider replicas generates no Services and no routes (the pods' own Services keep serving): delete spec.service"},
		{"session affinity for a StatefulSet", func(c *siskinv1.Canary) {
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.TargetRef.Kind = "StatefulSet"
			c.Spec.Provider = ""
			c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "pin"}
		}, "", "a StatefulSet target shares pods, not requests, and cannot pin sessions to the canary"},
		{"an HPA for a worker", func(c *siskinv1.Canary) {
			c.Spec.Provider = siskinv1.ProviderReplicas
			c.Spec.Service = siskinv1.CanaryService{}
			c.Spec.AutoscalerRef = &siskinv1.AutoscalerReference{APIVersion: "autoscaling/v2", Kind: "HorizontalPodAutoscaler", Name: "podinfo"}
		}, "", "an HPA on the target would scale it past that share"},
		{"a DaemonSet sharing pods", func(c *siskinv1.Canary) {
			c.Spec.TargetRef.Kind = "DaemonSet"
			c.Spec.Provider = siskinv1.ProviderReplicas
		}, "", "a DaemonSet runs one pod a node and cannot give its canary a share of pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCanary()
			tc.edit(c)
			err := Validate(&c.Spec, tc.provider)
			if !errors.Is(err, ErrInvalidSpec) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate = %v, want an invalid spec saying %q", err, tc.want)
			}
		})
	}
}

// A StatefulSet's provider is replicas whatever the controller's default; a worker names it.
func TestStatefulSetsAndWorkersShareReplicas(t *testing.T) {
	sts := newCanary()
	sts.Spec.TargetRef.Kind = "StatefulSet"
	sts.Spec.Provider = ""
	sts.Spec.Service = siskinv1.CanaryService{}
	if p := Provider(&sts.Spec, siskinv1.ProviderIstio); p != siskinv1.ProviderReplicas {
		t.Errorf("Provider of a StatefulSet = %q, want replicas", p)
	}
	if err := Validate(&sts.Spec, siskinv1.ProviderIstio); err != nil {
		t.Errorf("Validate(StatefulSet) = %v", err)
	}
	worker := newCanary()
	worker.Spec.Provider = siskinv1.ProviderReplicas
	worker.Spec.Service = siskinv1.CanaryService{}
	if err := Validate(&worker.Spec, siskinv1.ProviderIstio); err != nil {
		t.Errorf("Validate(worker) = %v", err)
	}
}

func TestAbsentAnalysisIsSkipAnalysis(t *testing.T) {
	c := newCanary()
	c.Spec.Analysis = nil
	if s := settingsFor(c, &Observation{}); !s.skipAnalysis || s.interval != defaultInterval {
		t.Fatalf("settings = skipAnalysis %v interval %s, want true and %s", s.skipAnalysis, s.interval, defaultInterval)
	}
}

func TestProviderKubernetesIsBlueGreen(t *testing.T) {
	a := &siskinv1.CanaryAnalysis{StepWeight: 10, MaxWeight: ptr[int32](50), Mirror: true,
		Match: []siskinv1.HTTPMatchRequest{{Headers: map[string]siskinv1.StringMatch{"x": {Exact: "y"}}}}}
	s := strategyFor(a, siskinv1.ProviderKubernetes)
	if s.kind != blueGreen || s.iterations != defaultKubernetesIterations || s.canRoute || s.mirror {
		t.Fatalf("strategy = %+v, want blue/green of 10 iterations without routing or mirror", s)
	}
	a.Iterations = 3
	if s := strategyFor(a, siskinv1.ProviderKubernetes); s.iterations != 3 {
		t.Fatalf("iterations = %d, want the analysis's 3", s.iterations)
	}
}

func TestSuffixBecomesAnAnchoredRegex(t *testing.T) {
	for _, tc := range []struct {
		in   siskinv1.StringMatch
		want siskinv1.StringMatch
	}{
		{siskinv1.StringMatch{Suffix: ".png"}, siskinv1.StringMatch{Regex: `^.*\.png$`}},
		{siskinv1.StringMatch{Suffix: "a+b(c)"}, siskinv1.StringMatch{Regex: `^.*a\+b\(c\)$`}},
		{siskinv1.StringMatch{Exact: "/a"}, siskinv1.StringMatch{Exact: "/a"}},
		{siskinv1.StringMatch{Prefix: "/api"}, siskinv1.StringMatch{Prefix: "/api"}},
	} {
		if got := RouterMatch(tc.in); got != tc.want {
			t.Errorf("RouterMatch(%+v) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestNormalizeRewritesFlaggerSpellingsForRouters(t *testing.T) {
	c := newCanary()
	c.Spec.Service.Match = []siskinv1.HTTPMatchRequest{{
		URI:     &siskinv1.StringMatch{Suffix: ".js"},
		Headers: map[string]siskinv1.StringMatch{"user-agent": {Suffix: "Mobile"}, "x-a": {Exact: "b"}},
	}}
	c.Spec.Analysis.Match = []siskinv1.HTTPMatchRequest{{QueryParams: map[string]siskinv1.StringMatch{"v": {Suffix: "-beta"}}}}
	c.Spec.Service.CorsPolicy = &siskinv1.CorsPolicy{
		AllowOrigins: []siskinv1.StringMatch{{Prefix: "https://a."}},
		AllowOrigin:  []string{"https://example.com", "*"},
	}
	Normalize(&c.Spec)

	m := c.Spec.Service.Match[0]
	if *m.URI != (siskinv1.StringMatch{Regex: `^.*\.js$`}) || m.Headers["user-agent"] != (siskinv1.StringMatch{Regex: `^.*Mobile$`}) || m.Headers["x-a"] != (siskinv1.StringMatch{Exact: "b"}) {
		t.Errorf("service.match = %+v %+v", *m.URI, m.Headers)
	}
	if got := c.Spec.Analysis.Match[0].QueryParams["v"]; got != (siskinv1.StringMatch{Regex: `^.*-beta$`}) {
		t.Errorf("analysis.match queryParams v = %+v", got)
	}
	cp := c.Spec.Service.CorsPolicy
	want := []siskinv1.StringMatch{{Prefix: "https://a."}, {Exact: "https://example.com"}, {Regex: ".*"}}
	if len(cp.AllowOrigin) != 0 || len(cp.AllowOrigins) != len(want) {
		t.Fatalf("corsPolicy = %+v, want allowOrigins %+v and no allowOrigin", cp, want)
	}
	for i := range want {
		if cp.AllowOrigins[i] != want[i] {
			t.Errorf("allowOrigins[%d] = %+v, want %+v", i, cp.AllowOrigins[i], want[i])
		}
	}
	again := c.DeepCopy()
	Normalize(&again.Spec)
	if len(again.Spec.Service.CorsPolicy.AllowOrigins) != len(want) {
		t.Error("Normalize is not idempotent")
	}
}

func TestPrimaryScalerQueriesAreIgnoredOnlyForAnHPA(t *testing.T) {
	queries := map[string]string{"requests": "sum(rate(http_requests_total[1m]))"}
	for kind, ignored := range map[string]bool{"HorizontalPodAutoscaler": true, "ScaledObject": false} {
		spec := &siskinv1.CanarySpec{AutoscalerRef: &siskinv1.AutoscalerReference{Kind: kind, Name: "podinfo", PrimaryScalerQueries: queries}}
		noted := strings.Contains(strings.Join(adjustments(spec, siskinv1.ProviderKubernetes), "; "), "primaryScalerQueries")
		if noted != ignored {
			t.Errorf("autoscalerRef.kind %s: primaryScalerQueries noted as ignored = %v, want %v", kind, noted, ignored)
		}
	}
}

// nginx makes c a Canary of provider nginx behind the Ingress podinfo.
func nginx(c *siskinv1.Canary) {
	c.Spec.Provider = siskinv1.ProviderNginx
	c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{APIVersion: "networking.k8s.io/v1", Kind: "Ingress", Name: "podinfo"}
}
