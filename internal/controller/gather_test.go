package controller

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestGatheringsRunOffTheWorkerOncePerStep(t *testing.T) {
	var g gatherings
	key := types.NamespacedName{Namespace: "ns", Name: "podinfo"}
	release := make(chan struct{})
	calls := 0
	run := func(ctx context.Context) gathered {
		calls++
		select {
		case <-release:
		case <-ctx.Done():
		}
		return gathered{checks: []siskinv1.CheckResult{{Name: "load", Verdict: siskinv1.VerdictPass}}}
	}
	woken := make(chan struct{}, 1)
	wake := func() { woken <- struct{}{} }

	first := g.start(context.Background(), key, "step-1", run, wake)
	if again := g.start(context.Background(), key, "step-1", run, wake); again != first {
		t.Fatal("a second round of the same step started the calls again")
	}
	select {
	case <-first.done:
		t.Fatal("the gathering ended before its calls answered")
	default:
	}
	close(release)
	select {
	case <-woken:
	case <-time.After(5 * time.Second):
		t.Fatal("the end of the calls did not wake the Canary")
	}
	<-first.done
	if res := g.take(key, first); len(res.checks) != 1 || calls != 1 {
		t.Fatalf("take = %+v after %d calls, want one check from one call", res, calls)
	}
	if _, ok := g.running[key]; ok {
		t.Fatal("a taken gathering is still held")
	}

	// A gathering of another step replaces (and cancels) the one that runs.
	stuck := g.start(context.Background(), key, "step-2", func(ctx context.Context) gathered { <-ctx.Done(); return gathered{} }, nil)
	next := g.start(context.Background(), key, "step-3", func(context.Context) gathered { return gathered{} }, nil)
	select {
	case <-stuck.done:
	case <-time.After(5 * time.Second):
		t.Fatal("a replaced gathering was not cancelled")
	}
	<-next.done
	g.forget(key)
	if len(g.running) != 0 {
		t.Fatal("forget left a gathering behind")
	}
}

func TestAGatheringThatPanicsIsAnErrorCheck(t *testing.T) {
	var g gatherings
	key := types.NamespacedName{Namespace: "ns", Name: "podinfo"}
	cur := g.start(context.Background(), key, "step", func(context.Context) gathered { panic("boom") }, nil)
	<-cur.done
	res := g.take(key, cur)
	if len(res.checks) != 1 || res.checks[0].Verdict != siskinv1.VerdictError {
		t.Fatalf("a panicking gathering gave %+v, want one Error check", res.checks)
	}
}
