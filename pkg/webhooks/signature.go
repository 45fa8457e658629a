package webhooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// SignatureHeader is the HTTP header that carries the signature of a call's body.
const SignatureHeader = "X-Siskin-Signature"

// SigningKeyName is the reserved Secret key that holds a webhook's signing key; it is never
// sent as a header.
const SigningKeyName = "signing-key"

const signaturePrefix = "sha256="

// ErrBadSignature is returned by Verify when a signature is missing, malformed or does not
// match the body.
var ErrBadSignature = errors.New("webhook signature does not match the body")

// Sign returns the value of the signature header for body: "sha256=" followed by the lowercase
// hex HMAC-SHA256 of the exact body bytes under key.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks that signature (the value of the signature header) is the signature of body
// under key, in constant time. Receivers such as the load tester use it.
func Verify(key, body []byte, signature string) error {
	hexSum, ok := strings.CutPrefix(signature, signaturePrefix)
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil {
		return ErrBadSignature
	}
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return ErrBadSignature
	}
	return nil
}
