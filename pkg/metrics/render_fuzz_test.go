package metrics

import (
	"context"
	"errors"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// FuzzRender checks that no query, however hostile, makes Render panic, render more than
// MaxQueryBytes or run on: it must answer well within a generous deadline. The seed corpus in
// testdata/fuzz/FuzzRender holds the built-in queries and the template bombs of
// TestRenderRefusesTemplateBombs.
func FuzzRender(f *testing.F) {
	for _, router := range BuiltinRouters() {
		for _, metric := range []string{siskinv1.MetricRequestSuccessRate, siskinv1.MetricRequestDuration, RequestCount} {
			q, err := BuiltinQuery(router, metric)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(q, "api")
		}
	}
	for _, b := range bombs() {
		f.Add(b.query, "xxxxxxxx")
	}
	f.Fuzz(func(t *testing.T, query, variable string) {
		// Far above what any bounded render takes, far below "never".
		const deadline = 10 * time.Second
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		vars := Vars{Name: "podinfo", Namespace: "test", Target: "podinfo", Service: "podinfo", Interval: "1m",
			Variables: map[string]string{"route": variable, "x": variable}}
		got, err := Render(ctx, query, vars)
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Render did not finish within %s: %q", deadline, query)
		}
		if len(got) > MaxQueryBytes {
			t.Fatalf("Render returned %d bytes, more than MaxQueryBytes", len(got))
		}
		if err != nil && got != "" {
			t.Fatalf("Render returned both %d bytes and the error %v", len(got), err)
		}
	})
}
