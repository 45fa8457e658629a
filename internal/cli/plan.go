package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// PlanView is the schedule of one Canary, for -o json|yaml.
type PlanView struct {
	Namespace        string       `json:"namespace,omitempty"`
	Name             string       `json:"name"`
	Provider         string       `json:"provider"`
	Interval         string       `json:"interval"`
	Threshold        int32        `json:"threshold"`
	Moments          []MomentView `json:"moments"`
	Total            string       `json:"total"`
	EarliestRollback *MomentView  `json:"earliestRollback,omitempty"`
}

// MomentView is a round of the planned rollout.
type MomentView struct {
	// At is the offset from the moment the controller sees the new revision, and Seconds the
	// same in seconds.
	At            string   `json:"at"`
	Seconds       float64  `json:"seconds"`
	Step          int      `json:"step,omitempty"`
	Phase         string   `json:"phase"`
	PrimaryWeight int32    `json:"primaryWeight"`
	CanaryWeight  int32    `json:"canaryWeight"`
	Mirror        bool     `json:"mirror,omitempty"`
	Checks        []string `json:"checks,omitempty"`
	Gates         []string `json:"gates,omitempty"`
	Hooks         []string `json:"hooks,omitempty"`
	Events        []string `json:"events,omitempty"`
}

func newPlanCommand(o *Options) *cobra.Command {
	var (
		file            string
		output          string
		defaultProvider string
	)
	cmd := &cobra.Command{
		Use:   "plan -f FILE",
		Short: "Show the schedule a Canary's next rollout would follow",
		Long: `Plan computes, without a cluster, the schedule a Canary (siskin.dev/v1beta1) would follow for
its next revision: each analysis step with its time, the weights of the route, the checks
(webhooks and metrics) and gates of each step, the total duration to promotion and the
earliest possible rollback (every check failing from the first step).

It runs the controller's own planner (canary.Plan) on a simulated clock, in a world where the
workloads become ready, the routes are confirmed and the gates open the moment they are asked:
real rollouts add those waits. Times count from the moment the controller sees the new
revision.`,
		Example: `  kubectl siskin plan -f canary.yaml
  kubectl siskin plan -f canary.yaml -o json
  cat canary.yaml | kubectl siskin plan -f -`,
		Args: exactArgs(0, "no arguments (the Canary comes from -f)"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := checkOutput(output, "", "json", "yaml"); err != nil {
				return err
			}
			if file == "" {
				return exitf(ExitUsage, "-f is required: the file holding the Canary")
			}
			docs, err := readDocuments(file, o.Streams.In)
			if err != nil {
				return err
			}
			var views []PlanView
			for _, d := range docs {
				if d.Kind != "Canary" {
					continue
				}
				if d.APIVersion != siskinv1.GroupVersion.String() {
					return fmt.Errorf("canary of %s: plan reads %s; convert a Flagger manifest first with kubectl siskin convert", d.APIVersion, siskinv1.GroupVersion)
				}
				cn := &siskinv1.Canary{}
				if err := decodeStrict(d.JSON, cn); err != nil {
					return fmt.Errorf("decode canary: %w", err)
				}
				provider := canary.Provider(&cn.Spec, defaultProvider)
				s, err := canary.PlanSchedule(cn, provider)
				if err != nil {
					return fmt.Errorf("canary %s: %w", cn.Name, err)
				}
				views = append(views, planView(cn, provider, s))
			}
			if len(views) == 0 {
				return fmt.Errorf("%s holds no Canary", file)
			}
			if output != "" {
				if len(views) == 1 {
					return printData(o.Streams.Out, output, views[0])
				}
				return printData(o.Streams.Out, output, views)
			}
			for i := range views {
				if i > 0 {
					_, _ = fmt.Fprintln(o.Streams.Out)
				}
				if err := renderPlan(o.Streams.Out, &views[i]); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file holding the Canary (- for stdin)")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	cmd.Flags().StringVar(&defaultProvider, "provider", siskinv1.ProviderIstio, "the controller's --provider: the router of a Canary that names none")
	return cmd
}

func planView(cn *siskinv1.Canary, provider string, s canary.Schedule) PlanView {
	v := PlanView{
		Namespace: cn.Namespace, Name: cn.Name, Provider: provider,
		Interval: s.Interval.String(), Threshold: s.Threshold, Total: s.Total.String(),
	}
	for _, m := range s.Moments {
		v.Moments = append(v.Moments, momentView(m))
	}
	if s.EarliestRollback != nil {
		m := momentView(*s.EarliestRollback)
		v.EarliestRollback = &m
	}
	return v
}

func momentView(m canary.Moment) MomentView {
	v := MomentView{
		At: m.At.String(), Seconds: m.At.Seconds(), Step: m.Step, Phase: string(m.Phase),
		PrimaryWeight: m.PrimaryWeight, CanaryWeight: m.CanaryWeight, Mirror: m.Mirror,
		Checks: m.Checks, Events: m.Events,
	}
	for _, g := range m.Gates {
		v.Gates = append(v.Gates, string(g))
	}
	for _, h := range m.Hooks {
		v.Hooks = append(v.Hooks, string(h))
	}
	return v
}

// renderPlan prints a schedule as a table.
func renderPlan(w io.Writer, v *PlanView) error {
	name := v.Name
	if v.Namespace != "" {
		name = v.Namespace + "/" + v.Name
	}
	_, _ = fmt.Fprintf(w, "Canary %s on %s: analysis every %s, rollback after %d failed checks\n", name, v.Provider, v.Interval, v.Threshold)
	_, _ = fmt.Fprintln(w, "Times count from the moment the controller sees a new revision, with workloads ready, routes confirmed and gates open at once.")
	_, _ = fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	_, _ = fmt.Fprintln(tw, "AT\tSTEP\tPHASE\tPRIMARY\tCANARY\tCHECKS\tGATES\tEVENTS")
	for _, m := range v.Moments {
		step := "-"
		if m.Step > 0 {
			step = fmt.Sprint(m.Step)
		}
		canaryW := fmt.Sprintf("%d%%", m.CanaryWeight)
		if m.Mirror {
			canaryW += " +mirror"
		}
		gates := m.Gates
		for _, h := range m.Hooks {
			gates = append(gates, h+" (called)")
		}
		_, _ = fmt.Fprintf(tw, "+%s\t%s\t%s\t%d%%\t%s\t%s\t%s\t%s\n", m.At, step, m.Phase, m.PrimaryWeight, canaryW,
			orDash(strings.Join(m.Checks, ", ")), orDash(strings.Join(gates, ", ")), orDash(reasons(m.Events)))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, _ = fmt.Fprintln(w)
	_, _ = fmt.Fprintf(w, "Total: %s from the new revision to Succeeded, if every check passes.\n", v.Total)
	if r := v.EarliestRollback; r != nil {
		_, _ = fmt.Fprintf(w, "Earliest possible rollback: +%s, at analysis step %d, if every check fails from the first step.\n", r.At, lastStep(v, r))
	} else {
		_, _ = fmt.Fprintln(w, "Earliest possible rollback: none by analysis (no metric or webhook checks); only a deadline, a rollback gate or an abort can roll back.")
	}
	return nil
}

// lastStep is the number of the analysis step of rollback r, or of the step before it.
func lastStep(v *PlanView, r *MomentView) int {
	if r.Step > 0 {
		return r.Step
	}
	n := 0
	for _, m := range v.Moments {
		if m.Seconds <= r.Seconds && m.Step > 0 {
			n = m.Step
		}
	}
	return n
}

// reasons are the reasons of events "Reason: message".
func reasons(events []string) string {
	out := make([]string, 0, len(events))
	for _, e := range events {
		r, _, _ := strings.Cut(e, ":")
		out = append(out, r)
	}
	return strings.Join(out, ", ")
}
