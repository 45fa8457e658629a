package loadtester

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// SignatureHeader carries the HMAC-SHA256 of the raw request body when Siskin has a webhook
// secret: "sha256=<lowercase hex>".
const SignatureHeader = "X-Siskin-Signature"

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

// Sign returns the SignatureHeader value for body under secret.
func Sign(secret, body []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

var (
	errNoSignature  = errors.New("missing " + SignatureHeader + " header")
	errBadSignature = errors.New("invalid " + SignatureHeader + " header")
)

// verifySignature checks header against body in constant time.
func verifySignature(secret, body []byte, header string) error {
	if header == "" {
		return errNoSignature
	}
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return errBadSignature
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return errBadSignature
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errBadSignature
	}
	return nil
}
