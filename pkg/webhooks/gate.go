package webhooks

import (
	"context"
	"fmt"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// CheckKind is the Kind of the check results of webhooks.
const CheckKind = "webhook"

// Gate calls every webhook of type typ in hooks concurrently and aggregates the answers.
//
// For the confirm-* gates, the gate is Open only when every webhook answered 2xx; with no
// webhook of the type it is Open. The Message names the first webhook (in spec order) that
// kept it closed and what it answered.
//
// For rollback the meaning is inverted: a 2xx answer means "roll back now", so Open=true asks
// for a rollback, and it is true as soon as ANY rollback webhook answered 2xx. A webhook that
// fails, times out or answers non-2xx does not ask for a rollback; with no rollback webhook,
// Open is false. The Message names the webhook that asked for the rollback.
func (c *Client) Gate(ctx context.Context, hooks []siskinv1.CanaryWebhook, typ siskinv1.WebhookType, payload Payload) canary.Gate {
	selected := OfType(hooks, typ)
	if len(selected) == 0 {
		return canary.Gate{Open: typ != siskinv1.RollbackHook, Message: fmt.Sprintf("no %s webhooks", typ)}
	}
	results := c.callAll(ctx, selected, payload)

	if typ == siskinv1.RollbackHook {
		for _, r := range results {
			if r.OK() {
				return canary.Gate{Open: true, Message: fmt.Sprintf("rollback requested: webhook %s %s", r.Name, r.Describe())}
			}
		}
		return canary.Gate{Message: fmt.Sprintf("no rollback requested: webhook %s %s", results[0].Name, results[0].Describe())}
	}

	var first *Result
	failed := 0
	for i := range results {
		if !results[i].OK() {
			if first == nil {
				first = &results[i]
			}
			failed++
		}
	}
	if first != nil {
		msg := fmt.Sprintf("%s gate closed: webhook %s %s", typ, first.Name, first.Describe())
		if failed > 1 {
			msg += fmt.Sprintf("; %d more of %d webhooks did not answer 2xx", failed-1, len(results))
		}
		return canary.Gate{Message: msg}
	}
	if len(results) == 1 {
		return canary.Gate{Open: true, Message: fmt.Sprintf("%s gate open: webhook %s %s", typ, results[0].Name, results[0].Describe())}
	}
	return canary.Gate{Open: true, Message: fmt.Sprintf("%s gate open: all %d webhooks answered 2xx", typ, len(results))}
}

// Checks runs the pre-rollout and rollout webhooks in hooks and returns one check result per
// webhook called, in spec order: Pass for a 2xx answer, Fail for any other answer, Error when
// there was no answer (unreachable, timed out, Secret unreadable). Pre-rollout webhooks
// run first; when one fails, the rollout webhooks are not called this step. Other types in
// hooks are ignored. Pre-rollout webhooks run once per revision, so the controller leaves
// them out (OfType(hooks, RolloutHook)) once they have passed.
func (c *Client) Checks(ctx context.Context, hooks []siskinv1.CanaryWebhook, payload Payload) []siskinv1.CheckResult {
	var out []siskinv1.CheckResult
	passed := true
	for _, r := range c.callAll(ctx, OfType(hooks, siskinv1.PreRolloutHook), payload) {
		out = append(out, checkOf(r))
		passed = passed && r.OK()
	}
	if !passed {
		return out
	}
	for _, r := range c.callAll(ctx, OfType(hooks, siskinv1.RolloutHook), payload) {
		out = append(out, checkOf(r))
	}
	return out
}

// Notify calls every webhook in hooks concurrently and returns the results, in the order of
// hooks, for logging; a failure changes nothing. It is for post-rollout and event webhooks:
// the caller selects them, for example with OfType(spec.Analysis.Webhooks, PostRolloutHook).
// It returns once every call has ended, which each webhook's timeout bounds.
func (c *Client) Notify(ctx context.Context, hooks []siskinv1.CanaryWebhook, payload Payload) []Result {
	return c.callAll(ctx, hooks, payload)
}

// callAll calls hooks concurrently and returns the results in the order of hooks.
func (c *Client) callAll(ctx context.Context, hooks []siskinv1.CanaryWebhook, payload Payload) []Result {
	if len(hooks) == 0 {
		return nil
	}
	results := make([]Result, len(hooks))
	var wg sync.WaitGroup
	for i, h := range hooks {
		wg.Go(func() {
			// A panic here would end the controller, every tenant's rollouts with it.
			defer func() {
				if v := recover(); v != nil {
					results[i] = Result{Name: h.Name, Type: TypeOf(h), Attempts: 1, Time: c.now(),
						Err: fmt.Errorf("webhook call panicked: %v", v)}
				}
			}()
			results[i] = c.Call(ctx, h, payload)
		})
	}
	wg.Wait()
	return results
}

func checkOf(r Result) siskinv1.CheckResult {
	verdict := siskinv1.VerdictPass
	switch {
	case r.OK():
	case r.StatusCode != 0:
		verdict = siskinv1.VerdictFail
	default:
		// No answer at all (unreachable, timed out, headers unreadable): the planner counts it
		// as failed too, but the metrics and the status tell it apart from a "no".
		verdict = siskinv1.VerdictError
	}
	return siskinv1.CheckResult{
		Name:    r.Name,
		Kind:    CheckKind,
		Verdict: verdict,
		Message: r.Describe(),
		Time:    metav1.NewTime(r.Time),
	}
}
