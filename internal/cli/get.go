package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func newGetCommand(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get",
		Short: "Show a Canary as a tree of what it drives",
	}
	var (
		watchFlag bool
		output    string
	)
	canaryCmd := &cobra.Command{
		Use:     "canary NAME",
		Aliases: []string{"canaries", "cnry"},
		Short:   "Show a Canary, its Deployments, Services, route, last checks, webhooks and events",
		Long: `Get shows the Canary (phase, revision, weight, step k of n, when the next step is due), the
primary and canary Deployments with pod readiness, the Services and the route with the weights
actually in the live VirtualService or HTTPRoute, each check of the last analysis step with its
value and bounds, each webhook and gate with its state, and the last events.

With -w the tree is redrawn on every watch event of the Canary, its Deployments and its events
(plain output, one tree after another, when stdout is not a terminal). -o json|yaml prints the
same information as data.`,
		Example: `  kubectl siskin get canary podinfo -n test
  kubectl siskin get canary podinfo -n test -w
  kubectl siskin get canary podinfo -n test -o json`,
		Args:              exactArgs(1, "the name of a Canary"),
		ValidArgsFunction: completeCanaries(o),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, "", "json", "yaml"); err != nil {
				return err
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			ns, err := o.Namespace()
			if err != nil {
				return err
			}
			key := client.ObjectKey{Namespace: ns, Name: args[0]}
			show := func(ctx context.Context) error {
				v, err := buildView(ctx, c, key)
				if err != nil {
					return err
				}
				if output != "" {
					return printData(o.Streams.Out, output, v)
				}
				if watchFlag && o.terminal() {
					_, _ = io.WriteString(o.Streams.Out, clearScreen)
				}
				_, err = io.WriteString(o.Streams.Out, renderTree(v, o.now()))
				return err
			}
			if !watchFlag {
				return show(cmd.Context())
			}
			return watchView(cmd.Context(), c, key, show)
		},
	}
	canaryCmd.Flags().BoolVarP(&watchFlag, "watch", "w", false, "redraw on every change (watch events, not polling)")
	canaryCmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a tree)")
	cmd.AddCommand(canaryCmd)
	return cmd
}

// watchView calls show once, then again after each watch event about the Canary, its
// Deployments or its events, until ctx ends (Ctrl-C). Events that arrive together cause one
// redraw.
func watchView(ctx context.Context, c client.WithWatch, key client.ObjectKey, show func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	changed := make(chan struct{}, 1)
	poke := func(watch.EventType, client.Object) error {
		select {
		case changed <- struct{}{}:
		default:
		}
		return nil
	}
	errs := make(chan error, 3)
	cn, err := getCanary(ctx, c, key)
	if err != nil {
		return err
	}
	go func() {
		errs <- followCanary(ctx, c, key, func(*siskinv1.Canary) error { return poke(watch.Modified, nil) })
	}()
	go func() {
		errs <- follow(ctx, c, &appsv1.DeploymentList{}, client.ListOptions{Namespace: key.Namespace}, func(t watch.EventType, obj client.Object) error {
			if n := obj.GetName(); n == cn.Spec.TargetRef.Name || n == cn.Spec.TargetRef.Name+"-primary" {
				return poke(t, obj)
			}
			return nil
		})
	}()
	go func() {
		// Events are optional: without RBAC to read them the tree is still redrawn.
		_ = follow(ctx, c, &eventsv1.EventList{}, eventsAbout(cn), func(t watch.EventType, obj client.Object) error {
			if e, ok := obj.(*eventsv1.Event); ok && about(e, cn) {
				return poke(t, obj)
			}
			return nil
		})
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errs:
			if ctx.Err() != nil {
				return nil
			}
			return err
		case <-changed:
			if err := show(ctx); err != nil {
				return err
			}
		}
	}
}

// renderTree draws v as a tree, with times relative to now.
func renderTree(v *View, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Canary %s/%s\n", v.Namespace, v.Name)
	fmt.Fprintf(&b, "  Phase:       %s", orDash(v.Phase))
	if v.Paused {
		b.WriteString(" (paused)")
	}
	if v.Queued {
		b.WriteString(" (queued: waiting for a rollout slot)")
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  Revision:    %s (promoted %s)\n", orDash(v.Revision), orDash(v.PromotedRevision))
	fmt.Fprintf(&b, "  Weight:      %d%%\n", v.Weight)
	fmt.Fprintf(&b, "  Step:        %d of %d (failed checks %d/%d)\n", v.Step, v.Steps, v.FailedChecks, v.Threshold)
	if v.NextStep != nil {
		fmt.Fprintf(&b, "  Next step:   %s\n", dueIn(v.NextStep.Time, now))
	}
	if a := v.Advice; a != nil {
		fmt.Fprintf(&b, "  Advice:      asked %s ago (%s): %s\n", age(a.Since.Time, now), a.Reason, a.Message)
		fmt.Fprintf(&b, "               answer with kubectl siskin resume (go on), abort (roll back) or promote; the timeout applies %s\n", dueIn(a.Deadline.Time, now))
	}
	for _, c := range v.Conditions {
		fmt.Fprintf(&b, "  %-13s%s %s: %s\n", c.Type+":", c.Status, c.Reason, c.Message)
	}

	t := &tree{b: &b}
	for _, d := range v.Deployments {
		kind := d.Kind
		if kind == "" {
			kind = "Deployment"
		}
		if !d.Exists {
			t.item(fmt.Sprintf("%s %s (%s): not found", kind, d.Name, d.Role))
			continue
		}
		line := fmt.Sprintf("%s %s (%s): %d/%d ready, %d updated, %d available", kind, d.Name, d.Role, d.Ready, d.Replicas, d.Updated, d.Available)
		if d.Partition != nil {
			line += fmt.Sprintf(", partition %d", *d.Partition)
		}
		if d.Revision != "" {
			line += ", revision " + d.Revision
		}
		t.item(line)
	}
	for _, s := range v.Services {
		state := "exists"
		if !s.Exists {
			state = "not found"
		}
		t.item(fmt.Sprintf("Service %s: %s", s.Name, state))
	}
	r := v.Route
	line := fmt.Sprintf("%s %s (%s): primary %d%%, canary %d%%", r.Kind, r.Name, r.Provider, r.PrimaryWeight, r.CanaryWeight)
	if r.BaselineWeight > 0 {
		line += fmt.Sprintf(", baseline %d%%", r.BaselineWeight)
	}
	if r.Mirror {
		line += ", mirrored to the canary"
	}
	if !r.Converged && r.Message != "" {
		line += " (" + r.Message + ")"
	}
	t.item(line)
	if len(v.Checks) > 0 {
		t.item(fmt.Sprintf("Checks of the last step (%s ago)", age(v.Checks[0].Time.Time, now)))
		for _, c := range v.Checks {
			t.sub(checkLine(c))
		}
	}
	if cmp := v.Comparison; cmp != nil {
		t.item(fmt.Sprintf("Comparison with %s (%d looks)", cmp.Control, cmp.Looks))
		for _, m := range cmp.Metrics {
			line := fmt.Sprintf("%s: %s", m.Verdict, m.Message)
			if m.Evidence != "" {
				line += fmt.Sprintf(" [evidence %s, not-worse %s]", m.Evidence, m.PassEvidence)
			}
			t.sub(line)
		}
	}
	if len(v.Webhooks) > 0 {
		t.item("Webhooks")
		for _, w := range v.Webhooks {
			t.sub(webhookLine(w, now))
		}
	}
	if len(v.Events) > 0 {
		t.item("Events")
		for _, e := range v.Events {
			line := fmt.Sprintf("%s ago  %s  %s: %s", age(e.Time.Time, now), e.Type, e.Reason, e.Note)
			if e.Count > 1 {
				line += fmt.Sprintf(" (x%d)", e.Count)
			}
			t.sub(line)
		}
	}
	return t.String()
}

func webhookLine(w WebhookView, now time.Time) string {
	line := fmt.Sprintf("%s (%s): %s", w.Name, w.Type, orDash(w.State))
	if w.Since != nil {
		line += " for " + age(w.Since.Time, now)
	}
	if w.Message != "" {
		line += ": " + w.Message
	}
	return line
}

func checkLine(c CheckView) string {
	line := fmt.Sprintf("%s %s: %s", c.Kind, c.Name, c.Verdict)
	if c.Value != "" {
		line += " value " + c.Value
	}
	switch {
	case c.Min != "" && c.Max != "":
		line += fmt.Sprintf(" (bounds %s..%s)", c.Min, c.Max)
	case c.Min != "":
		line += " (min " + c.Min + ")"
	case c.Max != "":
		line += " (max " + c.Max + ")"
	}
	if c.Message != "" {
		line += ": " + c.Message
	}
	return line
}

// tree collects the items of a tree and draws their branches once the last is known.
type tree struct {
	b     *strings.Builder
	items []treeItem
}

type treeItem struct {
	line string
	subs []string
}

func (t *tree) item(line string) { t.items = append(t.items, treeItem{line: line}) }

func (t *tree) sub(line string) {
	last := &t.items[len(t.items)-1]
	last.subs = append(last.subs, line)
}

func (t *tree) String() string {
	for i, it := range t.items {
		branch, indent := "├── ", "│   "
		if i == len(t.items)-1 {
			branch, indent = "└── ", "    "
		}
		t.b.WriteString(branch + it.line + "\n")
		for j, s := range it.subs {
			sb := "├── "
			if j == len(it.subs)-1 {
				sb = "└── "
			}
			t.b.WriteString(indent + sb + s + "\n")
		}
	}
	return t.b.String()
}

// checkOutput refuses an -o value not in allowed.
func checkOutput(output string, allowed ...string) error {
	for _, a := range allowed {
		if output == a {
			return nil
		}
	}
	return exitf(ExitUsage, "unknown output format %q: want one of %s", output, strings.Join(allowed[1:], ", "))
}

// printData writes v as JSON or YAML.
func printData(w io.Writer, format string, v any) error {
	var (
		out []byte
		err error
	)
	if format == "json" {
		out, err = json.MarshalIndent(v, "", "  ")
		out = append(out, '\n')
	} else {
		out, err = yaml.Marshal(v)
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", format, err)
	}
	_, err = w.Write(out)
	return err
}
