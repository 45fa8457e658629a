package notify

import (
	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// teamsMessage is a Microsoft Teams webhook message carrying one Adaptive Card, the format that
// both Workflows webhooks and the older incoming webhooks accept.
type teamsMessage struct {
	Type        string            `json:"type"`
	Attachments []teamsAttachment `json:"attachments"`
}

type teamsAttachment struct {
	ContentType string       `json:"contentType"`
	ContentURL  *string      `json:"contentUrl"`
	Content     adaptiveCard `json:"content"`
}

type adaptiveCard struct {
	Schema  string          `json:"$schema"`
	Type    string          `json:"type"`
	Version string          `json:"version"`
	Body    []any           `json:"body"`
	MSTeams *teamsCardWidth `json:"msteams,omitempty"`
}

type teamsCardWidth struct {
	Width string `json:"width"`
}

type cardTextBlock struct {
	Type   string `json:"type"`
	Text   string `json:"text"`
	Wrap   bool   `json:"wrap"`
	Weight string `json:"weight,omitempty"`
	Size   string `json:"size,omitempty"`
	Color  string `json:"color,omitempty"`
}

type cardFactSet struct {
	Type  string     `json:"type"`
	Facts []cardFact `json:"facts"`
}

type cardFact struct {
	Title string `json:"title"`
	Value string `json:"value"`
}

func teamsPayload(m message, _ destination) any {
	body := []any{
		cardTextBlock{Type: "TextBlock", Text: m.title(), Wrap: true, Weight: "Bolder", Size: "Medium", Color: teamsColor(m.Severity)},
	}
	if m.Text != "" {
		body = append(body, cardTextBlock{Type: "TextBlock", Text: m.Text, Wrap: true})
	}
	var facts []cardFact
	for _, f := range m.fields() {
		facts = append(facts, cardFact{Title: f.Name, Value: f.Value})
	}
	body = append(body, cardFactSet{Type: "FactSet", Facts: facts})
	return teamsMessage{
		Type: "message",
		Attachments: []teamsAttachment{{
			ContentType: "application/vnd.microsoft.card.adaptive",
			Content: adaptiveCard{
				Schema:  "http://adaptivecards.io/schemas/adaptive-card.json",
				Type:    "AdaptiveCard",
				Version: "1.4",
				Body:    body,
				MSTeams: &teamsCardWidth{Width: "Full"},
			},
		}},
	}
}

// teamsColor is the Adaptive Card color of the title.
func teamsColor(s siskinv1.AlertSeverity) string {
	switch s {
	case siskinv1.SeverityError:
		return "Attention"
	case siskinv1.SeverityWarn:
		return "Warning"
	}
	return "Accent"
}
