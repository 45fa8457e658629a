package loadtester

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// SignatureHeader carries Siskin's signature of the request's timestamp, method, path and body
// (see webhooks.SignatureV2Header).
const SignatureHeader = webhooks.SignatureV2Header

// LegacySignatureHeader carries the body-only signature that older Siskin versions send; it is
// accepted only with Options.AcceptLegacySignature.
const LegacySignatureHeader = webhooks.SignatureHeader

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

// verifySignature checks the signature of r, whose body is body, with the verifier Siskin's
// signatures are made for (pkg/webhooks): bound to method, path and time, within a replay
// window. Without a secret nothing is checked; without RequireSignature an unsigned request
// passes, but a present and wrong one does not.
func (s *Server) verifySignature(r *http.Request, body []byte) error {
	if len(s.opts.Secret) == 0 {
		return nil
	}
	v := webhooks.Verifier{Key: s.opts.Secret, AcceptLegacy: s.opts.AcceptLegacySignature}
	err := v.Verify(r, body)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, webhooks.ErrNoSignature) && !s.opts.RequireSignature:
		return nil
	case errors.Is(err, webhooks.ErrNoSignature), errors.Is(err, webhooks.ErrLegacySignature):
		return err
	}
	return fmt.Errorf("invalid %s header: %w", SignatureHeader, err)
}
