package webhooks

import (
	"maps"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Metadata keys the controller adds to the payload of event webhooks, named as in the Flagger
// model so that existing receivers keep working.
const (
	MetadataEventMessage = "eventMessage"
	MetadataEventType    = "eventType"
)

// Payload is the JSON body of every webhook call.
type Payload struct {
	// Name of the Canary.
	Name string `json:"name"`
	// Namespace of the Canary.
	Namespace string `json:"namespace"`
	// Phase of the Canary when the call is made.
	Phase siskinv1.CanaryPhase `json:"phase"`
	// Checksum is the revision fingerprint of the target, so a receiver can key on a revision.
	Checksum string `json:"checksum"`
	// Type is the type of the webhook being called; Call fills it in.
	Type siskinv1.WebhookType `json:"type"`
	// Metadata is the webhook's metadata merged with the caller's (the caller's keys win).
	Metadata map[string]string `json:"metadata"`
}

// NewPayload returns the payload about canary c and the revision with fingerprint checksum.
func NewPayload(c *siskinv1.Canary, checksum string) Payload {
	return Payload{
		Name:      c.Name,
		Namespace: c.Namespace,
		Phase:     c.Status.Phase,
		Checksum:  checksum,
	}
}

// forHook returns the payload as sent to hook. The caller's metadata wins over the webhook's
// because it carries facts of this call (an event's message), while the webhook's is static.
func (p Payload) forHook(hook siskinv1.CanaryWebhook) Payload {
	out := p
	out.Type = TypeOf(hook)
	out.Metadata = make(map[string]string, len(hook.Metadata)+len(p.Metadata))
	maps.Copy(out.Metadata, hook.Metadata)
	maps.Copy(out.Metadata, p.Metadata)
	return out
}

// TypeOf returns the type of hook; an unset type is rollout, as the API defaults it.
func TypeOf(hook siskinv1.CanaryWebhook) siskinv1.WebhookType {
	if hook.Type == "" {
		return siskinv1.RolloutHook
	}
	return hook.Type
}

// OfType returns the webhooks of hooks whose type is one of types, in spec order.
func OfType(hooks []siskinv1.CanaryWebhook, types ...siskinv1.WebhookType) []siskinv1.CanaryWebhook {
	var out []siskinv1.CanaryWebhook
	for _, h := range hooks {
		for _, t := range types {
			if TypeOf(h) == t {
				out = append(out, h)
				break
			}
		}
	}
	return out
}
