package notify

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/types"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/canary"
)

const (
	// maxTextRunes bounds the event message in every format; the tightest limit of the chats
	// (a Slack section's 3,000 characters) leaves room for the title.
	maxTextRunes = 2000
	// shortRevision is how much of a revision fingerprint the chats show.
	shortRevision = 12
)

// message is what is announced: a copy of the Canary's state after the status write and the
// event, so that nothing refers to the caller's objects once Notify has returned.
type message struct {
	Canary       string
	Namespace    string
	Phase        string
	Weight       int32
	FailedChecks int32
	// Revision is the full fingerprint of the revision being rolled out (status.lastAppliedSpec).
	Revision string
	Reason   string
	Text     string
	Severity siskinv1.AlertSeverity
	Cluster  string
}

func newMessage(c *siskinv1.Canary, e canary.Event, cluster string) message {
	sev := e.Severity
	if rank(sev) < 0 {
		sev = siskinv1.SeverityInfo
	}
	return message{
		Canary:       c.Name,
		Namespace:    c.Namespace,
		Phase:        string(c.Status.Phase),
		Weight:       c.Status.CanaryWeight,
		FailedChecks: c.Status.FailedChecks,
		Revision:     c.Status.LastAppliedSpec,
		Reason:       e.Reason,
		Text:         truncate(e.Message, maxTextRunes),
		Severity:     sev,
		Cluster:      cluster,
	}
}

func (m message) canaryKey() types.NamespacedName {
	return types.NamespacedName{Namespace: m.Namespace, Name: m.Canary}
}

// title is "namespace/name: What happened".
func (m message) title() string {
	return fmt.Sprintf("%s/%s: %s", m.Namespace, m.Canary, sentence(m.Reason))
}

// fallback is the plain-text form, for notifications and clients that show no blocks.
func (m message) fallback() string {
	if m.Text == "" {
		return m.title()
	}
	return m.title() + ": " + m.Text
}

// field is one name and value shown beside the message.
type field struct {
	Name  string
	Value string
}

// fields are shown in every chat format, in this order; empty values are left out.
func (m message) fields() []field {
	all := []field{
		{"Canary", m.Canary},
		{"Namespace", m.Namespace},
		{"Phase", m.Phase},
		{"Weight", fmt.Sprintf("%d%%", m.Weight)},
		{"Revision", short(m.Revision)},
		{"Cluster", m.Cluster},
	}
	out := all[:0]
	for _, f := range all {
		if f.Value != "" {
			out = append(out, f)
		}
	}
	return out
}

// rank orders severities; -1 is an unknown one.
func rank(s siskinv1.AlertSeverity) int {
	switch s {
	case siskinv1.SeverityInfo, "":
		return 0
	case siskinv1.SeverityWarn:
		return 1
	case siskinv1.SeverityError:
		return 2
	}
	return -1
}

// receives reports whether an alert of severity alert receives an event of severity event:
// info receives everything, warn receives warn and error, error receives error only. An alert
// without a severity is an info alert, unlike the Flagger model, where it received nothing.
func receives(alert, event siskinv1.AlertSeverity) bool {
	a := rank(alert)
	if a < 0 {
		a = 0
	}
	return rank(event) >= a
}

// sentence turns a CamelCase reason into a sentence: "AnalysisCheckFailed" is "Analysis check
// failed". Runs of capitals (acronyms) are kept as they are.
func sentence(reason string) string {
	if reason == "" {
		return "Event"
	}
	var b strings.Builder
	rs := []rune(reason)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) {
			prevLower := unicode.IsLower(rs[i-1])
			nextLower := i+1 < len(rs) && unicode.IsLower(rs[i+1])
			if prevLower || (unicode.IsUpper(rs[i-1]) && nextLower) {
				b.WriteByte(' ')
			}
			last := i+1 == len(rs)
			acronym := (!last && unicode.IsUpper(rs[i+1])) || (last && unicode.IsUpper(rs[i-1]))
			if !acronym {
				r = unicode.ToLower(r)
			}
		}
		b.WriteRune(r)
	}
	return b.String()
}

// truncate cuts s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// short abbreviates a revision fingerprint, as the Canary's events do.
func short(revision string) string {
	if len(revision) > shortRevision {
		return revision[:shortRevision]
	}
	return revision
}
