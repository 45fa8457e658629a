package cli

import (
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
	"github.com/siskin-dev/siskin/pkg/metrics"
)

// flaggerAPIVersion is the API version of Flagger's kinds.
const flaggerAPIVersion = "flagger.app/v1beta1"

// convertedKinds are the Flagger kinds Siskin has, with the same fields.
var convertedKinds = []string{"Canary", "MetricTemplate", "AlertProvider"}

// topLevelAPIVersion matches a document's own apiVersion line (not an indented reference).
var topLevelAPIVersion = regexp.MustCompile(`(?m)^apiVersion:[ \t]*["']?flagger\.app/v1beta1["']?[ \t]*$`)

// separator matches a YAML document separator line.
var separator = regexp.MustCompile(`^---[ \t]*(#.*)?\r?\n?$`)

func newConvertCommand(o *Options) *cobra.Command {
	var (
		file            string
		defaultProvider string
	)
	cmd := &cobra.Command{
		Use:   "convert -f FILE",
		Short: "Turn Flagger manifests into Siskin manifests, with a warning per field whose meaning changes",
		Long: `Convert reads Flagger manifests (flagger.app/v1beta1 Canary, MetricTemplate, AlertProvider) and
writes them as Siskin manifests (siskin.dev/v1beta1): the same fields, only the apiVersion
changes, and the rest of the file (comments, other objects) is written as it was.

On stderr it warns, per object and field, where Siskin reads a field differently from Flagger
("changes"), where the controller reads it as Flagger does but otherwise than written ("note",
the notes of the SpecAdjusted condition), and what the controller or the API server would
refuse ("refused", with what to write instead). Convert exits 1 when an object would be
refused, after writing everything.`,
		Example: `  kubectl siskin convert -f flagger-canary.yaml > siskin-canary.yaml
  kubectl get canaries.flagger.app -n test -o yaml | kubectl siskin convert -f - | kubectl apply -f -`,
		Args: exactArgs(0, "no arguments (the manifests come from -f)"),
		RunE: func(_ *cobra.Command, _ []string) error {
			if file == "" {
				return exitf(ExitUsage, "-f is required: the file holding the Flagger manifests")
			}
			raw, err := readInput(file, o.Streams.In)
			if err != nil {
				return err
			}
			out, warnings, refused, err := convert(raw, defaultProvider)
			if err != nil {
				return err
			}
			if _, err := io.WriteString(o.Streams.Out, out); err != nil {
				return err
			}
			for _, w := range warnings {
				_, _ = fmt.Fprintln(o.Streams.ErrOut, "warning:", w)
			}
			if refused > 0 {
				return fmt.Errorf("%d object(s) would be refused by Siskin; see the warnings", refused)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "file holding the Flagger manifests (- for stdin)")
	cmd.Flags().StringVar(&defaultProvider, "provider", siskinv1.ProviderIstio, "the Siskin controller's --provider: the router of a Canary that names none")
	return cmd
}

func readInput(path string, stdin io.Reader) ([]byte, error) {
	if path == "-" {
		return io.ReadAll(stdin)
	}
	return os.ReadFile(path) //nolint:gosec // the user names the file to read
}

// convert rewrites the Flagger objects of a multi-document YAML file as Siskin's, keeping the
// text of everything else, and returns the warnings and how many objects would be refused.
func convert(raw []byte, defaultProvider string) (out string, warnings []string, refused int, err error) {
	var b strings.Builder
	var doc strings.Builder
	n := 0
	flush := func() error {
		n++
		text, warns, bad, err := convertDocument(doc.String(), n, defaultProvider)
		if err != nil {
			return err
		}
		b.WriteString(text)
		warnings = append(warnings, warns...)
		refused += bad
		doc.Reset()
		return nil
	}
	for _, line := range strings.SplitAfter(string(raw), "\n") {
		if separator.MatchString(line) {
			if err := flush(); err != nil {
				return "", nil, 0, err
			}
			b.WriteString(line)
			continue
		}
		doc.WriteString(line)
	}
	if err := flush(); err != nil {
		return "", nil, 0, err
	}
	return b.String(), warnings, refused, nil
}

// convertDocument converts the n-th document, if it is a Flagger object.
func convertDocument(text string, n int, defaultProvider string) (string, []string, int, error) {
	var obj map[string]any
	if err := yaml.Unmarshal([]byte(text), &obj); err != nil {
		return "", nil, 0, fmt.Errorf("document %d: %w", n, err)
	}
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	if !strings.HasPrefix(apiVersion, "flagger.app/") {
		return text, nil, 0, nil
	}
	name := objectName(obj)
	at := fmt.Sprintf("document %d: %s %s", n, kind, name)
	if apiVersion != flaggerAPIVersion || !slices.Contains(convertedKinds, kind) {
		return text, []string{fmt.Sprintf("%s: %s %s is not converted: Siskin has %s of %s only", at, apiVersion, kind, strings.Join(convertedKinds, ", "), flaggerAPIVersion)}, 0, nil
	}
	converted := topLevelAPIVersion.ReplaceAllString(text, "apiVersion: "+siskinv1.GroupVersion.String())
	if converted == text {
		// Not block-style YAML (JSON, flow style): write the object anew.
		obj["apiVersion"] = siskinv1.GroupVersion.String()
		data, err := yaml.Marshal(obj)
		if err != nil {
			return "", nil, 0, fmt.Errorf("%s: %w", at, err)
		}
		converted = string(data)
	}
	var js []byte
	js, err := yaml.YAMLToJSON([]byte(converted))
	if err != nil {
		return "", nil, 0, fmt.Errorf("%s: %w", at, err)
	}
	var warns []string
	refused := 0
	switch kind {
	case "Canary":
		warns, refused = canaryWarnings(js, obj, defaultProvider)
	case "MetricTemplate":
		warns, refused = metricTemplateWarnings(js)
	case "AlertProvider":
		warns, refused = alertProviderWarnings(js)
	}
	for i := range warns {
		warns[i] = at + ": " + warns[i]
	}
	return converted, warns, refused, nil
}

func objectName(obj map[string]any) string {
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if ns, _ := meta["namespace"].(string); ns != "" {
		return ns + "/" + name
	}
	return name
}

// unknownFields reports the fields Siskin's type lacks (the API server would drop them).
func unknownFields(js []byte, v any) (string, error) {
	if err := yaml.Unmarshal(js, v); err != nil {
		return "", err
	}
	if err := yaml.UnmarshalStrict(js, v); err != nil {
		return err.Error(), nil
	}
	return "", nil
}

func canaryWarnings(js []byte, raw map[string]any, defaultProvider string) ([]string, int) {
	cn := &siskinv1.Canary{}
	unknown, err := unknownFields(js, cn)
	if err != nil {
		return []string{"refused: " + err.Error()}, 1
	}
	var warns []string
	refused := 0
	if unknown != "" {
		warns = append(warns, "refused: a field Siskin does not have would be dropped: "+unknown)
		refused++
	}
	if err := canary.Validate(&cn.Spec, defaultProvider); err != nil {
		warns = append(warns, "refused: "+strings.TrimPrefix(err.Error(), canary.ErrInvalidSpec.Error()+": "))
		refused++
	}
	warns = append(warns, canaryChanges(cn, raw)...)
	for _, note := range canary.Adjustments(&cn.Spec, defaultProvider) {
		warns = append(warns, "note: "+note)
	}
	return warns, refused
}

// canaryChanges are the fields whose meaning Siskin changes on purpose (docs/flagger.md,
// "Deliberate differences").
func canaryChanges(cn *siskinv1.Canary, raw map[string]any) []string {
	var out []string
	spec, _ := raw["spec"].(map[string]any)
	if _, ok := spec["revertOnDeletion"]; ok {
		out = append(out, "changes: spec.revertOnDeletion has no effect: deleting the Canary always hands traffic back to the target (Flagger, unless it is true, leaves traffic on the primary and the target at zero replicas)")
	}
	if cn.Spec.SkipAnalysis {
		out = append(out, "changes: spec.skipAnalysis promotes a revision once its pods are ready, and rolls it back at the progress deadline if they never are (Flagger promotes at once)")
	}
	a := cn.Spec.Analysis
	if a == nil {
		return out
	}
	analysis, _ := spec["analysis"].(map[string]any)
	alerts, _ := analysis["alerts"].([]any)
	for i, al := range alerts {
		m, _ := al.(map[string]any)
		if _, ok := m["severity"]; !ok && i < len(a.Alerts) {
			out = append(out, fmt.Sprintf("changes: analysis.alerts[%s] has no severity: it receives every notification (info), as Flagger documents (Flagger sends it none)", a.Alerts[i].Name))
		}
	}
	if len(a.Metrics) > 0 && a.ErrorLimit == 0 {
		out = append(out, "changes: analysis.metrics: a query that cannot be made is not a failed check; analysis.errorLimit (default 5) steps in a row without a verdict roll back (Flagger counts each error as a failed check)")
	}
	for _, m := range a.Metrics {
		if m.TemplateRef == nil {
			continue
		}
		if m.Interval == "" {
			out = append(out, fmt.Sprintf("changes: analysis.metrics[%s].interval is unset: {{ interval }} renders 1m in its template (Flagger renders it empty)", m.Name))
		}
		if m.Name == siskinv1.MetricRequestSuccessRate || m.Name == siskinv1.MetricRequestDuration {
			out = append(out, fmt.Sprintf("changes: analysis.metrics[%s] has a templateRef: only the template runs, and a deprecated threshold is its maximum", m.Name))
		}
	}
	return out
}

func metricTemplateWarnings(js []byte) ([]string, int) {
	mt := &siskinv1.MetricTemplate{}
	unknown, err := unknownFields(js, mt)
	if err != nil {
		return []string{"refused: " + err.Error()}, 1
	}
	var warns []string
	refused := 0
	if unknown != "" {
		warns = append(warns, "refused: a field Siskin does not have would be dropped: "+unknown)
		refused++
	}
	if t := mt.Spec.Provider.Type; t != "" && !slices.Contains(metrics.ProviderTypes, t) {
		warns = append(warns, fmt.Sprintf("refused: spec.provider.type %s: Siskin's metric backends are %s", t, strings.Join(metrics.ProviderTypes, ", ")))
		refused++
	}
	return warns, refused
}

// alertProviderTypes are the alert provider types Siskin sends to.
var alertProviderTypes = []string{"slack", "msteams", "discord", "rocket", "gchat", "generic"}

func alertProviderWarnings(js []byte) ([]string, int) {
	ap := &siskinv1.AlertProvider{}
	unknown, err := unknownFields(js, ap)
	if err != nil {
		return []string{"refused: " + err.Error()}, 1
	}
	var warns []string
	refused := 0
	if unknown != "" {
		warns = append(warns, "refused: a field Siskin does not have would be dropped: "+unknown)
		refused++
	}
	if t := ap.Spec.Type; !slices.Contains(alertProviderTypes, t) {
		warns = append(warns, fmt.Sprintf("refused: spec.type %s: Siskin sends to %s", t, strings.Join(alertProviderTypes, ", ")))
		refused++
	}
	return warns, refused
}
