package notify

import (
	"html"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// gchatCardID names the one card of a message; Google Chat wants an ID per card.
const gchatCardID = "siskin-event"

// gchatMessage is a Google Chat incoming-webhook message: a plain text line, which
// notifications show, and one card (the cardsV2 format) with the event and its fields.
type gchatMessage struct {
	Text    string      `json:"text"`
	CardsV2 []gchatCard `json:"cardsV2"`
}

type gchatCard struct {
	CardID string        `json:"cardId"`
	Card   gchatCardBody `json:"card"`
}

type gchatCardBody struct {
	Header   gchatHeader    `json:"header"`
	Sections []gchatSection `json:"sections"`
}

type gchatHeader struct {
	Title    string `json:"title"`
	Subtitle string `json:"subtitle"`
}

type gchatSection struct {
	Widgets []gchatWidget `json:"widgets"`
}

// gchatWidget is one widget: exactly one of its fields is set.
type gchatWidget struct {
	TextParagraph *gchatTextParagraph `json:"textParagraph,omitempty"`
	DecoratedText *gchatDecoratedText `json:"decoratedText,omitempty"`
}

type gchatTextParagraph struct {
	Text string `json:"text"`
}

type gchatDecoratedText struct {
	TopLabel string `json:"topLabel"`
	Text     string `json:"text"`
}

// gchatPayload builds the message. Card text is Google Chat's HTML subset, so everything taken
// from the event is escaped; the top-level text holds only the title (namespace, name and
// reason), never the event's message, where a quoted "<users/all>" would mention everyone.
func gchatPayload(m message, _ destination) any {
	severity := string(m.Severity)
	if severity == "" {
		severity = string(siskinv1.SeverityInfo)
	}
	label := `<font color="` + gchatColor(m.Severity) + `"><b>` + severity + `</b></font>`
	first := label
	if m.Text != "" {
		first += " " + html.EscapeString(m.Text)
	}
	widgets := []gchatWidget{{TextParagraph: &gchatTextParagraph{Text: first}}}
	var facts []gchatWidget
	for _, f := range m.fields() {
		facts = append(facts, gchatWidget{DecoratedText: &gchatDecoratedText{TopLabel: f.Name, Text: html.EscapeString(f.Value)}})
	}
	sections := []gchatSection{{Widgets: widgets}}
	if len(facts) > 0 {
		sections = append(sections, gchatSection{Widgets: facts})
	}
	return gchatMessage{
		Text: m.title(),
		CardsV2: []gchatCard{{
			CardID: gchatCardID,
			Card: gchatCardBody{
				Header:   gchatHeader{Title: sentence(m.Reason), Subtitle: m.Namespace + "/" + m.Canary},
				Sections: sections,
			},
		}},
	}
}

func gchatColor(s siskinv1.AlertSeverity) string {
	switch s {
	case siskinv1.SeverityError:
		return "#D93025"
	case siskinv1.SeverityWarn:
		return "#E37400"
	}
	return "#1A73E8"
}
