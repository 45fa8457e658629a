package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// action is a manual request the plugin makes through an annotation the controller honours.
type action struct {
	name       string
	annotation string
	short      string
	long       string
	example    string
	// applied reports, from the status after the acknowledgement, whether the request took
	// effect; used only when the controller's event about it cannot be found.
	applied func(*siskinv1.CanaryStatus) bool
}

var actions = []action{
	{
		name: "promote", annotation: siskinv1.AnnotationPromote,
		short: "Move the canary to its next step now, or with --full promote it now",
		long: `Promote sets the siskin.dev/promote annotation and waits until the controller acknowledges it.

Without --full the rollout moves to its next step now (the next weight or iteration), without
the checks of the current step or the confirm-traffic-increase gate, and the next analysis step
is one interval later; at the last step this promotes. The value of the annotation is then
"step:<time>".

With --full the revision under analysis is promoted now, without further analysis.

The controller refuses when no rollout is in progress, when the promotion already started, when
the target changed to a revision that has not been analysed, and (without --full) while the
rollout waits for approval to start.`,
		example: `  # Skip the wait for the next step
  kubectl siskin promote podinfo -n test

  # Promote the revision under analysis now
  kubectl siskin promote podinfo --full -n test`,
		applied: func(st *siskinv1.CanaryStatus) bool {
			return st.Phase == siskinv1.PhasePromoting || st.Phase == siskinv1.PhaseFinalising || st.Phase == siskinv1.PhaseSucceeded
		},
	},
	{
		name: "abort", annotation: siskinv1.AnnotationAbort,
		short: "Roll the current canary revision back now",
		long:  `Abort sets the siskin.dev/abort annotation and waits until the controller acknowledges it: traffic goes back to the primary and the canary is scaled down. The controller refuses when no rollout is in progress or its promotion already started.`,
		example: `  kubectl siskin abort podinfo -n test
  kubectl siskin abort podinfo -n test --timeout 2m`,
		applied: func(st *siskinv1.CanaryStatus) bool { return st.Phase == siskinv1.PhaseFailed },
	},
	{
		name: "retry", annotation: siskinv1.AnnotationRetry,
		short:   "Analyse a failed revision again, without changing the target",
		long:    `Retry sets the siskin.dev/retry annotation and waits until the controller acknowledges it. Only a failed rollout whose target still runs the failed revision can be retried.`,
		example: `  kubectl siskin retry podinfo -n test`,
		applied: func(st *siskinv1.CanaryStatus) bool {
			return st.Phase == siskinv1.PhaseWaiting || st.Phase == siskinv1.PhaseProgressing || st.Phase == siskinv1.PhasePromoting
		},
	},
	{
		name: "pause", annotation: siskinv1.AnnotationPause,
		short:   "Freeze the analysis where it is (weights kept, no deadlines)",
		long:    `Pause sets the siskin.dev/pause annotation and waits until the controller acknowledges it. No analysis step runs and no deadline counts until resume.`,
		example: `  kubectl siskin pause podinfo -n test`,
		applied: func(st *siskinv1.CanaryStatus) bool { return st.Paused },
	},
	{
		name: "resume", annotation: siskinv1.AnnotationResume,
		short:   "Resume a paused analysis",
		long:    `Resume sets the siskin.dev/resume annotation and waits until the controller acknowledges it. Waits start afresh; a step that fell due during the pause runs now, once.`,
		example: `  kubectl siskin resume podinfo -n test`,
		applied: func(st *siskinv1.CanaryStatus) bool { return !st.Paused },
	},
}

// eventGrace is how long an action waits for the controller's event once the request is
// acknowledged in status: the controller records the event right after the status write.
const eventGrace = 10 * time.Second

func newActionCommand(o *Options, a action) *cobra.Command {
	var (
		timeout time.Duration
		full    bool
	)
	cmd := &cobra.Command{
		Use:               a.name + " NAME",
		Short:             a.short,
		Long:              a.long,
		Example:           a.example,
		Args:              exactArgs(1, "the name of a Canary"),
		ValidArgsFunction: completeCanaries(o),
		RunE: func(cmd *cobra.Command, args []string) error {
			prefix := ""
			if a.name == "promote" && !full {
				prefix = canary.PromoteStepPrefix
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
			defer cancel()
			out, err := request(ctx, c, client.ObjectKey{Namespace: ns, Name: args[0]}, a, prefix, o.now())
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintln(o.Streams.Out, out.String())
			if !out.Applied {
				return &CodedError{Code: ExitRefused, Err: fmt.Errorf("%s refused: %s", out.Request, out.Reason)}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the controller to acknowledge the request")
	if a.name == "promote" {
		cmd.Flags().BoolVar(&full, "full", false, "skip the remaining analysis and promote now (default: the next step only)")
	}
	return cmd
}

// Outcome is what the controller did with a manual request.
type Outcome struct {
	// Canary is namespace/name.
	Canary string
	// Request is annotation=value.
	Request string
	// Applied is true when the controller carried the request out.
	Applied bool
	// Reason is the controller's event reason (ManualAbort, ManualRequestIgnored, ...), or
	// empty when its event was not found.
	Reason string
	// Message is the controller's event message, or, without an event, a description of the
	// status after the acknowledgement.
	Message string
	// Phase is the phase after the acknowledgement.
	Phase siskinv1.CanaryPhase
}

func (out Outcome) String() string {
	verdict := "done"
	if !out.Applied {
		verdict = "refused"
	}
	if out.Reason == "" {
		return fmt.Sprintf("canary %s: %s acknowledged, %s (phase %s): %s", out.Canary, out.Request, verdict, out.Phase, out.Message)
	}
	return fmt.Sprintf("canary %s: %s acknowledged, %s (phase %s): %s: %s", out.Canary, out.Request, verdict, out.Phase, out.Reason, out.Message)
}

// request sets annotation a.annotation to a fresh value (prefix, then the time) on Canary key,
// waits for the controller to record that value in status.manualRequests, and reads what it
// did from its event about the request.
func request(ctx context.Context, c client.WithWatch, key client.ObjectKey, a action, prefix string, now time.Time) (Outcome, error) {
	cn, err := getCanary(ctx, c, key)
	if err != nil {
		return Outcome{}, err
	}
	value := prefix + now.UTC().Format(time.RFC3339Nano)
	if cn.Annotations[a.annotation] == value {
		value += "-1"
	}
	req := a.annotation + "=" + value
	out := Outcome{Canary: key.String(), Request: req}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{a.annotation: value}}})
	if err != nil {
		return out, err
	}
	if err := c.Patch(ctx, cn, client.RawPatch(types.MergePatchType, patch)); err != nil {
		return out, fmt.Errorf("annotate canary %s: %w", key, err)
	}

	var acked *siskinv1.Canary
	err = followCanary(ctx, c, key, func(cn *siskinv1.Canary) error {
		if cn.Status.ManualRequests[a.annotation] == value {
			acked = cn
			return errStop
		}
		return nil
	})
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return out, exitf(ExitTimeout, "the controller did not acknowledge %s on canary %s in time: is it running and watching namespace %s?", req, key, key.Namespace)
	case err != nil:
		return out, err
	}
	out.Phase = acked.Status.Phase

	ev, err := findEvent(ctx, c, acked, req)
	if err != nil {
		return out, err
	}
	if ev != nil {
		out.Reason, out.Message = ev.Reason, ev.Note
		out.Applied = ev.Reason != siskinv1.ReasonManualRequestIgnored
		if !out.Applied {
			if _, why, ok := strings.Cut(ev.Note, " ignored: "); ok {
				out.Message = why
			}
		}
		return out, nil
	}
	out.Applied = a.applied(&acked.Status)
	out.Message = "no event about the request was found; " + describeReady(acked)
	return out, nil
}

// findEvent waits up to eventGrace (within ctx) for the controller's event about request req
// on Canary cn. It returns nil when there is none, or when events cannot be read.
func findEvent(ctx context.Context, c client.WithWatch, cn *siskinv1.Canary, req string) (*eventsv1.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, eventGrace)
	defer cancel()
	var found *eventsv1.Event
	err := follow(ctx, c, &eventsv1.EventList{}, eventsAbout(cn), func(t watch.EventType, obj client.Object) error {
		e, ok := obj.(*eventsv1.Event)
		if !ok || t == watch.Deleted || !about(e, cn) {
			return nil
		}
		if strings.HasPrefix(e.Note, req+" ") || strings.HasPrefix(e.Note, req+":") || strings.HasSuffix(e.Note, " "+req) {
			found = e
			return errStop
		}
		return nil
	})
	if err != nil && found == nil {
		// Without events (deadline, or no RBAC to read them) the caller falls back to status.
		return nil, nil //nolint:nilerr // the status decides instead
	}
	return found, nil
}

// describeReady is the Ready condition's reason and message, or the phase.
func describeReady(cn *siskinv1.Canary) string {
	for _, cond := range cn.Status.Conditions {
		if cond.Type == siskinv1.ConditionReady {
			return cond.Reason + ": " + cond.Message
		}
	}
	return "phase " + string(cn.Status.Phase)
}
