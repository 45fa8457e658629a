package metrics

import (
	"context"
	"regexp"
	"testing"
)

// labelSelectors finds a label's regular expressions (label=~"...") in a rendered query.
func labelSelectors(label string) *regexp.Regexp {
	return regexp.MustCompile(label + `=~"([^"]+)"`)
}

// checkBuiltinSelects renders provider's built-in query of metric with vars and checks that
// every regular expression of label in it selects each of selected and none of others, as
// Prometheus matches them (anchored at both ends). It returns the rendered query.
func checkBuiltinSelects(t *testing.T, provider, metric string, vars Vars, label string, selected, others []string) string {
	t.Helper()
	text, err := BuiltinQuery(provider, metric)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Render(context.Background(), text, vars)
	if err != nil {
		t.Fatal(err)
	}
	sels := labelSelectors(label).FindAllStringSubmatch(q, -1)
	if len(sels) == 0 {
		t.Fatalf("%s %s selects no %s: %s", provider, metric, label, q)
	}
	for _, sel := range sels {
		re := regexp.MustCompile("^(?:" + sel[1] + ")$")
		for _, v := range selected {
			if !re.MatchString(v) {
				t.Errorf("%s %s does not select %s %s: %s", provider, metric, label, v, sel[1])
			}
		}
		for _, v := range others {
			if re.MatchString(v) {
				t.Errorf("%s %s selects %s %s: %s", provider, metric, label, v, sel[1])
			}
		}
	}
	return q
}
