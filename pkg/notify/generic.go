package notify

import (
	"strconv"
)

// genericMessage is the JSON document POSTed to a generic webhook. Its keys are stable: every
// key is present even when its value is empty.
type genericMessage struct {
	Canary    string            `json:"canary"`
	Namespace string            `json:"namespace"`
	Phase     string            `json:"phase"`
	Revision  string            `json:"revision"`
	Reason    string            `json:"reason"`
	Message   string            `json:"message"`
	Severity  string            `json:"severity"`
	Cluster   string            `json:"cluster"`
	Fields    map[string]string `json:"fields"`
}

func genericPayload(m message, _ destination) any {
	return genericMessage{
		Canary:    m.Canary,
		Namespace: m.Namespace,
		Phase:     m.Phase,
		Revision:  m.Revision,
		Reason:    m.Reason,
		Message:   m.Text,
		Severity:  string(m.Severity),
		Cluster:   m.Cluster,
		Fields: map[string]string{
			"weight":       strconv.Itoa(int(m.Weight)),
			"failedChecks": strconv.Itoa(int(m.FailedChecks)),
		},
	}
}
