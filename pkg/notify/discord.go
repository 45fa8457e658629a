package notify

import (
	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Embed colors by severity.
const (
	discordBlue  = 0x3B82F6
	discordAmber = 0xF59E0B
	discordRed   = 0xDC2626
)

// Discord's limits on an embed.
const (
	discordMaxTitle = 256
	discordMaxField = 1024
)

// discordMessage is a Discord webhook message with one embed.
type discordMessage struct {
	Username        string                 `json:"username,omitempty"`
	Embeds          []discordEmbed         `json:"embeds"`
	AllowedMentions discordAllowedMentions `json:"allowed_mentions"`
}

type discordEmbed struct {
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	Color       int            `json:"color"`
	Fields      []discordField `json:"fields,omitempty"`
}

type discordField struct {
	Name   string `json:"name"`
	Value  string `json:"value"`
	Inline bool   `json:"inline"`
}

// discordAllowedMentions with no parse list keeps "@everyone" in an event message from pinging
// anyone.
type discordAllowedMentions struct {
	Parse []string `json:"parse"`
}

func discordPayload(m message, d destination) any {
	var fields []discordField
	for _, f := range m.fields() {
		fields = append(fields, discordField{Name: f.Name, Value: truncate(f.Value, discordMaxField), Inline: true})
	}
	return discordMessage{
		Username: d.Username,
		Embeds: []discordEmbed{{
			Title:       truncate(m.title(), discordMaxTitle),
			Description: m.Text,
			Color:       discordColor(m.Severity),
			Fields:      fields,
		}},
		AllowedMentions: discordAllowedMentions{Parse: []string{}},
	}
}

func discordColor(s siskinv1.AlertSeverity) int {
	switch s {
	case siskinv1.SeverityError:
		return discordRed
	case siskinv1.SeverityWarn:
		return discordAmber
	}
	return discordBlue
}
