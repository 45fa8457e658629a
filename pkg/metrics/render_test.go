package metrics

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestRenderUsesEveryVariableAndCollapsesWhitespace(t *testing.T) {
	vars := Vars{
		Name: "podinfo", Namespace: "test", Target: "podinfo-app", Service: "podinfo-svc", Ingress: "podinfo-ing", Interval: "2m",
		Variables: map[string]string{"route": "api", "code": "5.*"},
	}
	got, err := Render(context.Background(), `
		sum(rate(x{canary="{{ name }}", ns="{{ namespace }}",
		   target=~"{{ target }}", svc="{{ service }}", ing="{{ ingress }}",
		   route="{{ variables.route }}", code=~"{{ variables.code }}"}[{{ interval }}]))`, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(rate(x{canary="podinfo", ns="test", target=~"podinfo-app", svc="podinfo-svc", ing="podinfo-ing", route="api", code=~"5.*"}[2m]))`
	if got != want {
		t.Errorf("Render:\n got %s\nwant %s", got, want)
	}
}

func TestRenderNamesMissingVariables(t *testing.T) {
	_, err := Render(context.Background(), `x{a="{{ variables.zeta }}", b="{{ variables.alpha }}", c="{{ variables.set }}", d="{{ variables.zeta }}"}`,
		Vars{Variables: map[string]string{"set": "1"}})
	if !errors.Is(err, ErrMissingVariable) {
		t.Fatalf("Render error = %v, want ErrMissingVariable", err)
	}
	if !strings.Contains(err.Error(), `"alpha", "zeta"`) {
		t.Errorf("Render error %q does not name the missing keys, sorted and once each", err)
	}
}

func TestRenderMissingVariableWithoutAnyVariables(t *testing.T) {
	_, err := Render(context.Background(), `{{ variables.foo }}`, Vars{})
	if !errors.Is(err, ErrMissingVariable) || !strings.Contains(err.Error(), `"foo"`) {
		t.Fatalf("Render error = %v, want ErrMissingVariable naming foo", err)
	}
}

func TestRenderMissingKeyInsideWithIsStillAnError(t *testing.T) {
	_, err := Render(context.Background(), `{{ with variables }}{{ .foo }}{{ end }}`, Vars{Variables: map[string]string{"bar": "1"}})
	if err == nil || !strings.Contains(err.Error(), `"foo"`) {
		t.Fatalf("Render error = %v, want one naming foo (missingkey=error)", err)
	}
}

func TestRenderIndexReachesKeysThatAreNotIdentifiers(t *testing.T) {
	got, err := Render(context.Background(), `{{ index variables "route-name" }}`, Vars{Variables: map[string]string{"route-name": "r"}})
	if err != nil || got != "r" {
		t.Fatalf("Render = %q, %v; want r", got, err)
	}
}

func TestRenderRejectsUnknownFunctionsAndBadSyntax(t *testing.T) {
	for _, q := range []string{`{{ route }}`, `{{ name `, `{{ .Name }}`} {
		if got, err := Render(context.Background(), q, Vars{Name: "n"}); err == nil {
			t.Errorf("Render(%q) = %q, want an error", q, got)
		}
	}
}

func TestPromDuration(t *testing.T) {
	for _, tc := range []struct {
		in   time.Duration
		want string
	}{
		{time.Minute, "1m"},
		{90 * time.Second, "90s"},
		{2 * time.Hour, "2h"},
		{90 * time.Minute, "90m"},
		{1500 * time.Millisecond, "1500ms"},
		{30 * time.Second, "30s"},
	} {
		got, err := PromDuration(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("PromDuration(%s) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []time.Duration{0, -time.Second, time.Microsecond, time.Second + time.Microsecond} {
		if got, err := PromDuration(bad); err == nil {
			t.Errorf("PromDuration(%s) = %q, want an error", bad, got)
		}
	}
}

// bombs are queries that expand far beyond MaxQueryBytes when executed as plain text/template:
// each would render 64 MiB or more (the first three doubled 40 more times would be 2^63 bytes).
func bombs() map[string]struct {
	query string
	want  error
} {
	doubling := func(seed, step, end string) string {
		return seed + strings.Repeat(step, 24) + end
	}
	var defines strings.Builder
	defines.WriteString(`{{ define "t0" }}xxxxxxxx{{ end }}`)
	for i := 1; i <= 24; i++ {
		fmt.Fprintf(&defines, `{{ define "t%d" }}{{ template "t%d" }}{{ template "t%d" }}{{ end }}`, i, i-1, i-1)
	}
	defines.WriteString(`{{ template "t24" }}`)
	return map[string]struct {
		query string
		want  error
	}{
		"nested templates":          {defines.String(), ErrNotAllowed},
		"range over an integer":     {`{{ range 67108864 }}x{{ end }}`, ErrNotAllowed},
		"with and print":            {doubling(`{{ with "xxxxxxxx" }}`, `{{ with print . . }}`, `{{ . }}`+strings.Repeat(`{{ end }}`, 25)), ErrQueryTooLarge},
		"a variable that doubles":   {doubling(`{{ $a := "xxxxxxxx" }}`, `{{ $a = print $a $a }}`, `{{ $a }}`), ErrQueryTooLarge},
		"printf widths":             {`{{ printf "` + strings.Repeat("%0999999[1]d", 64) + `" 1 }}`, ErrQueryTooLarge},
		"nested js escapes":         {`{{ js (` + strings.Repeat(`js (`, 24) + `"\\\\"` + strings.Repeat(`)`, 24) + `) }}`, ErrQueryTooLarge},
		"a block that recurses":     {`{{ block "b" . }}xx{{ template "b" . }}{{ template "b" . }}{{ end }}`, ErrNotAllowed},
		"a large variable, twice":   {`{{ variables.big }}{{ variables.big }}`, ErrQueryTooLarge},
		"call, which reaches funcs": {`{{ call name }}`, ErrNotAllowed},
	}
}

func TestRenderRefusesTemplateBombs(t *testing.T) {
	vars := Vars{Name: "n", Variables: map[string]string{"big": strings.Repeat("x", 40<<10)}}
	for name, tc := range bombs() {
		t.Run(name, func(t *testing.T) {
			got, err := Render(context.Background(), tc.query, vars)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Render = %d bytes, %v; want an error wrapping %q", len(got), err, tc.want)
			}
		})
	}
}

func TestRenderErrorsNameTheLimit(t *testing.T) {
	_, err := Render(context.Background(), `{{ range 3 }}x{{ end }}`, Vars{})
	if err == nil || err.Error() != "query template uses range, which is not allowed in queries" {
		t.Errorf("range: %v", err)
	}
	_, err = Render(context.Background(), `{{ define "x" }}{{ end }}`+"up", Vars{})
	if err == nil || err.Error() != "query template uses define or block, which is not allowed in queries" {
		t.Errorf("define: %v", err)
	}
	_, err = Render(context.Background(), `{{ variables.big }}{{ variables.big }}`, Vars{Variables: map[string]string{"big": strings.Repeat("x", 40<<10)}})
	if err == nil || err.Error() != "render query template: query template output exceeds 64 KiB" {
		t.Errorf("output: %v", err)
	}
	if MaxQueryBytes != 64<<10 {
		t.Errorf("the messages say 64 KiB, MaxQueryBytes is %d", MaxQueryBytes)
	}
}

func TestRenderStopsWithItsContext(t *testing.T) {
	cause := errors.New("no answer within the step deadline of 15s")
	ctx, cancel := context.WithCancelCause(context.Background())
	cancel(cause)
	for _, q := range []string{`up`, `{{ name }}`, `{{ print "a" }}`} {
		if got, err := Render(ctx, q, Vars{Name: "n"}); !errors.Is(err, cause) {
			t.Errorf("Render(%q) with a done context = %q, %v; want the context's cause", q, got, err)
		}
	}
}

func TestRenderKeepsFlaggerStyleQueries(t *testing.T) {
	vars := Vars{Name: "podinfo", Namespace: "test", Target: "podinfo", Service: "podinfo-svc", Interval: "1m",
		Variables: map[string]string{"route": "api", "dash-key": "d", "empty": ""}}
	for _, tc := range []struct{ query, want string }{
		{`{{ if variables.route }}r="{{ variables.route }}"{{ else }}none{{ end }}`, `r="api"`},
		{`{{ if variables.empty }}x{{ else if eq namespace "test" }}ns{{ end }}`, `ns`},
		{`{{ with variables }}{{ .route }}{{ end }}`, `api`},
		{`{{ index variables "dash-key" }}`, `d`},
		{`{{ printf "%s-canary" target }}`, `podinfo-canary`},
		{`{{ target | printf "%s-primary" }}`, `podinfo-primary`},
		{`{{ $ns := namespace }}{{ $ns }}/{{ service }}`, `test/podinfo-svc`},
		{`{{/* a comment */}}  {{- name -}}  [{{ interval }}]`, `podinfo[1m]`},
		{`{{ print name "-" 2 }} {{ len variables }} {{ slice target 0 3 }}`, `podinfo-2 3 pod`},
		{`{{ urlquery "a b" }} {{ js "'" }} {{ html "<" }}`, `a+b \' &lt;`},
		{`{{ and true name }} {{ or "" namespace }} {{ not false }}`, `podinfo test true`},
	} {
		got, err := Render(context.Background(), tc.query, vars)
		if err != nil || got != tc.want {
			t.Errorf("Render(%s) = %q, %v; want %q", tc.query, got, err, tc.want)
		}
	}
}

// {{ ingress }} is spec.ingressRef.name, or the target's name without one, as in the Flagger
// model: templates written for Flagger's nginx provider keep rendering.
func TestIngressVariableFollowsTheFlaggerModel(t *testing.T) {
	c := &siskinv1.Canary{}
	c.Name, c.Namespace = "podinfo", "test"
	c.Spec.TargetRef.Name = "podinfo-app"
	m := siskinv1.CanaryMetric{Name: "errors"}
	v, _, err := varsFor(c, m, Step{})
	if err != nil || v.Ingress != "podinfo-app" {
		t.Fatalf("without ingressRef: ingress %q (%v), want the target's name", v.Ingress, err)
	}
	c.Spec.IngressRef = &siskinv1.TypedLocalObjectReference{Name: "podinfo-ing"}
	if v, _, _ = varsFor(c, m, Step{}); v.Ingress != "podinfo-ing" {
		t.Fatalf("with ingressRef: ingress %q, want podinfo-ing", v.Ingress)
	}
	got, err := Render(context.Background(), `sum(x{ingress="{{ ingress }}"})`, v)
	if err != nil || got != `sum(x{ingress="podinfo-ing"})` {
		t.Fatalf("Render = %q, %v", got, err)
	}
}
