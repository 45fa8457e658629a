package cli

import (
	"fmt"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

// Row is one Canary in `list`.
type Row struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Phase     string `json:"phase"`
	Weight    int32  `json:"weight"`
	Step      int    `json:"step"`
	Steps     int    `json:"steps"`
	Revision  string `json:"revision,omitempty"`
	Paused    bool   `json:"paused,omitempty"`
	// Asks is true while the rollout waits for a person to answer its advice.
	Asks   bool `json:"asks,omitempty"`
	Queued bool `json:"queued,omitempty"`
}

func newListCommand(o *Options) *cobra.Command {
	var (
		all    bool
		output string
	)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List Canaries, one line each, with queued rollouts",
		Long: `List prints every Canary of the namespace (or of all namespaces with -A), one line each:
namespace, name, phase, canary weight, analysis step k/n, the revision under rollout (or last
acted on), and whether a new revision is queued for a rollout slot (--max-concurrent-canaries)
or paused.`,
		Example: `  kubectl siskin list -n test
  kubectl siskin list -A
  kubectl siskin list -A -o json`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkOutput(output, "", "json", "yaml"); err != nil {
				return err
			}
			c, err := o.Client()
			if err != nil {
				return err
			}
			var opts []client.ListOption
			if !all {
				ns, err := o.Namespace()
				if err != nil {
					return err
				}
				opts = append(opts, client.InNamespace(ns))
			}
			list := &siskinv1.CanaryList{}
			if err := c.List(cmd.Context(), list, opts...); err != nil {
				return fmt.Errorf("list canaries: %w", err)
			}
			rows := make([]Row, 0, len(list.Items))
			for i := range list.Items {
				cn := &list.Items[i]
				pr := canary.ProgressOf(cn, resolveProvider(cmd.Context(), c, cn))
				rows = append(rows, Row{
					Namespace: cn.Namespace, Name: cn.Name, Phase: string(cn.Status.Phase),
					Weight: cn.Status.CanaryWeight, Step: pr.Step, Steps: pr.Steps,
					Revision: short(cn.Status.LastAppliedSpec), Paused: cn.Status.Paused, Asks: cn.Status.Advice != nil, Queued: isQueued(cn),
				})
			}
			sort.Slice(rows, func(i, j int) bool {
				if rows[i].Namespace != rows[j].Namespace {
					return rows[i].Namespace < rows[j].Namespace
				}
				return rows[i].Name < rows[j].Name
			})
			if output != "" {
				return printData(o.Streams.Out, output, rows)
			}
			tw := tabwriter.NewWriter(o.Streams.Out, 0, 4, 2, ' ', 0)
			_, _ = fmt.Fprintln(tw, "NAMESPACE\tNAME\tPHASE\tWEIGHT\tSTEP\tREVISION\tQUEUED")
			for _, r := range rows {
				phase := orDash(r.Phase)
				switch {
				case r.Asks:
					phase += " (asks a person)"
				case r.Paused:
					phase += " (paused)"
				}
				queued := "-"
				if r.Queued {
					queued = "yes"
				}
				_, _ = fmt.Fprintf(tw, "%s\t%s\t%s\t%d%%\t%d/%d\t%s\t%s\n", r.Namespace, r.Name, phase, r.Weight, r.Step, r.Steps, orDash(r.Revision), queued)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&all, "all-namespaces", "A", false, "list the Canaries of every namespace")
	cmd.Flags().StringVarP(&output, "output", "o", "", "output format: json or yaml (default: a table)")
	return cmd
}

// short is the first 12 characters of a revision fingerprint, as the controller's messages
// show it.
func short(fp string) string {
	if len(fp) > 12 {
		return fp[:12]
	}
	return fp
}
