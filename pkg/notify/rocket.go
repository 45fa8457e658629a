package notify

import (
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Attachment colors by severity.
const (
	rocketBlue  = "#3B82F6"
	rocketAmber = "#F59E0B"
	rocketRed   = "#DC2626"
)

// rocketMessage is a Rocket.Chat incoming-webhook message in the Slack-compatible format that
// Rocket.Chat accepts: a text line and one attachment with the event and its fields. Rocket.Chat
// renders no Block Kit, so this is the older attachment layout.
type rocketMessage struct {
	Channel     string             `json:"channel,omitempty"`
	Username    string             `json:"username,omitempty"`
	Text        string             `json:"text"`
	Attachments []rocketAttachment `json:"attachments"`
}

type rocketAttachment struct {
	Color  string        `json:"color"`
	Text   string        `json:"text,omitempty"`
	Fields []rocketField `json:"fields,omitempty"`
}

type rocketField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

func rocketPayload(m message, d destination) any {
	var fields []rocketField
	for _, f := range m.fields() {
		fields = append(fields, rocketField{Title: f.Name, Value: rocketQuiet(f.Value), Short: true})
	}
	return rocketMessage{
		Channel:  d.Channel,
		Username: d.Username,
		Text:     "*" + rocketQuiet(m.title()) + "*",
		Attachments: []rocketAttachment{{
			Color:  rocketColor(m.Severity),
			Text:   rocketQuiet(m.Text),
			Fields: fields,
		}},
	}
}

// rocketQuiet keeps an event message that quotes "@all" or "@here" (a webhook's answer, say)
// from notifying the whole room: a zero-width space after the @ breaks the mention and reads
// the same.
var rocketQuiet = strings.NewReplacer("@all", "@\u200ball", "@here", "@\u200bhere").Replace

func rocketColor(s siskinv1.AlertSeverity) string {
	switch s {
	case siskinv1.SeverityError:
		return rocketRed
	case siskinv1.SeverityWarn:
		return rocketAmber
	}
	return rocketBlue
}
