package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestRenderUsesEveryVariableAndCollapsesWhitespace(t *testing.T) {
	vars := Vars{
		Name: "podinfo", Namespace: "test", Target: "podinfo-app", Service: "podinfo-svc", Interval: "2m",
		Variables: map[string]string{"route": "api", "code": "5.*"},
	}
	got, err := Render(`
		sum(rate(x{canary="{{ name }}", ns="{{ namespace }}",
		   target=~"{{ target }}", svc="{{ service }}",
		   route="{{ variables.route }}", code=~"{{ variables.code }}"}[{{ interval }}]))`, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := `sum(rate(x{canary="podinfo", ns="test", target=~"podinfo-app", svc="podinfo-svc", route="api", code=~"5.*"}[2m]))`
	if got != want {
		t.Errorf("Render:\n got %s\nwant %s", got, want)
	}
}

func TestRenderNamesMissingVariables(t *testing.T) {
	_, err := Render(`x{a="{{ variables.zeta }}", b="{{ variables.alpha }}", c="{{ variables.set }}", d="{{ variables.zeta }}"}`,
		Vars{Variables: map[string]string{"set": "1"}})
	if !errors.Is(err, ErrMissingVariable) {
		t.Fatalf("Render error = %v, want ErrMissingVariable", err)
	}
	if !strings.Contains(err.Error(), `"alpha", "zeta"`) {
		t.Errorf("Render error %q does not name the missing keys, sorted and once each", err)
	}
}

func TestRenderMissingVariableWithoutAnyVariables(t *testing.T) {
	_, err := Render(`{{ variables.foo }}`, Vars{})
	if !errors.Is(err, ErrMissingVariable) || !strings.Contains(err.Error(), `"foo"`) {
		t.Fatalf("Render error = %v, want ErrMissingVariable naming foo", err)
	}
}

func TestRenderMissingKeyInsideWithIsStillAnError(t *testing.T) {
	_, err := Render(`{{ with variables }}{{ .foo }}{{ end }}`, Vars{Variables: map[string]string{"bar": "1"}})
	if err == nil || !strings.Contains(err.Error(), `"foo"`) {
		t.Fatalf("Render error = %v, want one naming foo (missingkey=error)", err)
	}
}

func TestRenderIndexReachesKeysThatAreNotIdentifiers(t *testing.T) {
	got, err := Render(`{{ index variables "route-name" }}`, Vars{Variables: map[string]string{"route-name": "r"}})
	if err != nil || got != "r" {
		t.Fatalf("Render = %q, %v; want r", got, err)
	}
}

func TestRenderRejectsUnknownFunctionsAndBadSyntax(t *testing.T) {
	for _, q := range []string{`{{ ingress }}`, `{{ name `, `{{ .Name }}`} {
		if got, err := Render(q, Vars{Name: "n"}); err == nil {
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
