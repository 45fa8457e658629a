package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	eventsv1 "k8s.io/api/events/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/target"
)

func newWaitCommand(o *Options) *cobra.Command {
	var (
		revision string
		timeout  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "wait NAME",
		Short: "Follow the rollout of a revision and exit 0 when it is promoted",
		Long: `Wait follows the rollout of the target's current revision (or of --revision, a revision
fingerprint or a prefix of it, as the controller's messages show it) and prints each step as
the controller takes it, from watch events.

Exit codes: 0 promoted, 5 rolled back, 6 stalled, 7 superseded (the target moved on to another
revision), 4 timed out, 1 error. A revision that is already promoted exits 0 at once.`,
		Example: `  # In CI, after applying a new image:
  kubectl siskin wait podinfo -n test --timeout 30m

  # Wait for a revision named in the controller's messages
  kubectl siskin wait podinfo -n test --revision 3f2a9c1d0b7e`,
		Args:              exactArgs(1, "the name of a Canary"),
		ValidArgsFunction: completeCanaries(o),
		RunE: func(cmd *cobra.Command, args []string) error {
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
			return waitFor(ctx, c, client.ObjectKey{Namespace: ns, Name: args[0]}, revision, o.Streams.Out, o.now)
		},
	}
	cmd.Flags().StringVar(&revision, "revision", "", "revision fingerprint (or a prefix of it) to wait for; default: the target's current revision")
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Minute, "how long to wait for the rollout to end")
	return cmd
}

// waitFor follows the rollout of revision rev (the target's current one when empty) of Canary
// key until it ends, printing each change to out.
func waitFor(ctx context.Context, c client.WithWatch, key client.ObjectKey, rev string, out io.Writer, now func() time.Time) error {
	cn, err := getCanary(ctx, c, key)
	if err != nil {
		return err
	}
	if rev == "" {
		if rev, err = currentRevision(ctx, c, cn); err != nil {
			return err
		}
	}
	provider := resolveProvider(ctx, c, cn)
	p := &printer{out: out, now: now}
	p.printf("waiting for canary %s to promote revision %s", key, rev)

	// The controller's events tell each step; print those that happen from now on (without
	// RBAC to read events, only the status changes are printed).
	evCtx, stopEvents := context.WithCancel(ctx)
	defer stopEvents()
	var wg sync.WaitGroup
	tail := &eventTail{printed: map[string]bool{}, changed: make(chan struct{}, 1)}
	old, evErr := canaryEvents(ctx, c, cn)
	if evErr == nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tail.run(evCtx, c, cn, old, p)
		}()
	}
	defer wg.Wait()

	w := &waiter{rev: rev}
	var (
		last   string
		result error
		final  *siskinv1.Canary
	)
	err = followCanary(ctx, c, key, func(cn *siskinv1.Canary) error {
		final = cn
		if line := summary(cn, provider); line != last {
			p.printf("%s", line)
			last = line
		}
		code, done, msg := w.verdict(cn)
		if !done {
			return nil
		}
		p.printf("%s", msg)
		if code != ExitOK {
			result = &CodedError{Code: code, Err: errors.New(msg)}
		}
		return errStop
	})
	if err == nil && final != nil && evErr == nil {
		// The controller records its event about the last change right after the status:
		// show it before ending.
		if r := apimeta.FindStatusCondition(final.Status.Conditions, siskinv1.ConditionReady); r != nil {
			tail.waitFor(ctx, r.Reason, eventGrace)
		}
	}
	stopEvents()
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return exitf(ExitTimeout, "timed out waiting for canary %s to promote revision %s (%s)", key, rev, last)
	case err != nil:
		return err
	}
	return result
}

// currentRevision is the fingerprint of the target's pod template and tracked configs, as the
// controller computes it.
func currentRevision(ctx context.Context, c client.Client, cn *siskinv1.Canary) (string, error) {
	tgt, _, err := target.NewKinds(c, c, nil, nil).Observe(ctx, cn)
	if err != nil {
		return "", fmt.Errorf("read the revision of the target (give --revision to skip this): %w", err)
	}
	if !tgt.Exists {
		return "", fmt.Errorf("canary %s/%s: %s", cn.Namespace, cn.Name, tgt.Message)
	}
	return tgt.Fingerprint, nil
}

// waiter decides when the rollout of one revision has ended.
type waiter struct {
	rev string
	// seen is true once the controller acted on the revision.
	seen bool
}

// verdict reports whether the rollout of w.rev ended in cn, with the exit code and a sentence.
func (w *waiter) verdict(cn *siskinv1.Canary) (code int, done bool, msg string) {
	st := &cn.Status
	is := func(fp string) bool { return fp != "" && strings.HasPrefix(fp, w.rev) }
	name := cn.Namespace + "/" + cn.Name
	rolling := is(st.LastAppliedSpec)
	if rolling {
		w.seen = true
	}
	stalled := apimeta.FindStatusCondition(st.Conditions, siskinv1.ConditionStalled)
	switch {
	case rolling && st.Phase == siskinv1.PhaseFailed:
		return ExitRolledBack, true, fmt.Sprintf("canary %s: revision %s rolled back: %s", name, w.rev, readyMessage(cn))
	case stalled != nil && stalled.Status == metav1.ConditionTrue && st.ObservedGeneration == cn.Generation && st.Phase != siskinv1.PhaseFailed:
		// A rollback of an earlier revision is Stalled too, until the controller notices the
		// new one: only a Canary stalled otherwise cannot roll this revision out.
		return ExitStalled, true, fmt.Sprintf("canary %s is stalled: %s: %s", name, stalled.Reason, stalled.Message)
	case is(st.LastPromotedSpec) && (!rolling || st.Phase == siskinv1.PhaseSucceeded || st.Phase == siskinv1.PhaseInitialized):
		return ExitOK, true, fmt.Sprintf("canary %s: revision %s promoted", name, w.rev)
	case w.seen && !rolling:
		return ExitSuperseded, true, fmt.Sprintf("canary %s: revision %s superseded by revision %s", name, w.rev, st.LastAppliedSpec)
	}
	return 0, false, ""
}

// readyMessage is the message of the Ready condition, or the phase.
func readyMessage(cn *siskinv1.Canary) string {
	if r := apimeta.FindStatusCondition(cn.Status.Conditions, siskinv1.ConditionReady); r != nil {
		return r.Message
	}
	return "phase " + string(cn.Status.Phase)
}

// summary is one line of where the rollout stands.
func summary(cn *siskinv1.Canary, provider string) string {
	st := &cn.Status
	pr := canary.ProgressOf(cn, provider)
	var b strings.Builder
	fmt.Fprintf(&b, "%s weight %d%% step %d/%d", orDash(string(st.Phase)), st.CanaryWeight, pr.Step, pr.Steps)
	if st.Paused {
		b.WriteString(" paused")
	}
	if r := apimeta.FindStatusCondition(st.Conditions, siskinv1.ConditionReady); r != nil {
		fmt.Fprintf(&b, " | %s: %s", r.Reason, r.Message)
	}
	return b.String()
}

// eventTail prints the events about a Canary as they arrive, and lets the caller wait for
// one of a given reason.
type eventTail struct {
	mu      sync.Mutex
	printed map[string]bool
	changed chan struct{}
}

// run prints the events about cn that are not in old, as they arrive, until ctx ends.
func (t *eventTail) run(ctx context.Context, c client.WithWatch, cn *siskinv1.Canary, old []eventsv1.Event, p *printer) {
	seen := map[types.UID]int32{}
	for _, e := range old {
		seen[e.UID] = seriesCount(&e)
	}
	_ = follow(ctx, c, &eventsv1.EventList{}, eventsAbout(cn), func(typ watch.EventType, obj client.Object) error {
		e, ok := obj.(*eventsv1.Event)
		if !ok || typ == watch.Deleted || !about(e, cn) {
			return nil
		}
		if n, ok := seen[e.UID]; ok && n == seriesCount(e) {
			return nil
		}
		seen[e.UID] = seriesCount(e)
		p.printf("  %s %s: %s", e.Type, e.Reason, e.Note)
		t.mu.Lock()
		t.printed[e.Reason] = true
		t.mu.Unlock()
		select {
		case t.changed <- struct{}{}:
		default:
		}
		return nil
	})
}

// waitFor waits, at most grace, until an event of reason has been printed.
func (t *eventTail) waitFor(ctx context.Context, reason string, grace time.Duration) {
	timer := time.NewTimer(grace)
	defer timer.Stop()
	for {
		t.mu.Lock()
		done := t.printed[reason]
		t.mu.Unlock()
		if done {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-t.changed:
		}
	}
}

func seriesCount(e *eventsv1.Event) int32 {
	if e.Series == nil {
		return 1
	}
	return e.Series.Count
}

// printer writes time-stamped lines from several goroutines.
type printer struct {
	mu  sync.Mutex
	out io.Writer
	now func() time.Time
}

func (p *printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.out, "%s %s\n", p.now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
