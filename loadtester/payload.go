package loadtester

import (
	"errors"
	"fmt"

	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// SignatureHeader carries the HMAC-SHA256 of the raw request body when Siskin has a webhook
// secret: "sha256=<lowercase hex>".
const SignatureHeader = webhooks.SignatureHeader

// Payload is the JSON body of a Siskin webhook call.
type Payload struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	Phase     string `json:"phase"`
	// Checksum fingerprints the canary's revision; background load is kept per checksum.
	Checksum string `json:"checksum"`
	// Type is the webhook type (pre-rollout, rollout, confirm-promotion, rollback, ...).
	Type     string            `json:"type"`
	Metadata map[string]string `json:"metadata"`
}

// canary returns "namespace/name", the key and log value for the canary.
func (p *Payload) canary() string { return p.Namespace + "/" + p.Name }

var errNoSignature = errors.New("missing " + SignatureHeader + " header")

// verifySignature checks header against body in constant time, with the same scheme Siskin
// signs with (pkg/webhooks).
func verifySignature(secret, body []byte, header string) error {
	if header == "" {
		return errNoSignature
	}
	if err := webhooks.Verify(secret, body, header); err != nil {
		return fmt.Errorf("invalid %s header: %w", SignatureHeader, err)
	}
	return nil
}
