package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// HeaderSource gives the data of the Secret that a webhook's secretRef names. The controller
// implements it by reading its informer cache, so a call costs no API request.
type HeaderSource interface {
	// SecretData returns the data of the Secret name in namespace.
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// HeaderSourceFunc adapts a function to a HeaderSource.
type HeaderSourceFunc func(ctx context.Context, namespace, name string) (map[string][]byte, error)

// SecretData calls f.
func (f HeaderSourceFunc) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	return f(ctx, namespace, name)
}

// ErrNoHeaderSource is returned when a webhook names a secretRef but the Client has no
// HeaderSource to read it.
var ErrNoHeaderSource = errors.New("webhook names a secretRef but no header source is configured")

// outgoing is what a call to a webhook sends besides its body.
type outgoing struct {
	header http.Header
	// key signs the call; nil for none.
	key []byte
	// secrets scrubs the header values that came from the Secret out of the reply excerpt.
	secrets scrubber
}

// headers returns the request headers of a call to hook, the key to sign it with and the
// scrubber of its Secret's values. Errors name Secret keys but never their values.
func (c *Client) headers(ctx context.Context, hook siskinv1.CanaryWebhook, namespace string) (outgoing, error) {
	h := http.Header{}
	h.Set("User-Agent", userAgent)
	key := c.signingKey
	var secrets []string
	if ref := hook.SecretRef; ref != nil && ref.Name != "" {
		if c.source == nil {
			return outgoing{}, fmt.Errorf("secret %s/%s: %w", namespace, ref.Name, ErrNoHeaderSource)
		}
		data, err := c.source.SecretData(ctx, namespace, ref.Name)
		if err != nil {
			return outgoing{}, fmt.Errorf("read secret %s/%s for webhook headers: %w", namespace, ref.Name, err)
		}
		for k, v := range data {
			if k == SigningKeyName {
				key = NormalizeKey(v)
				continue
			}
			if !validHeaderName(k) {
				return outgoing{}, fmt.Errorf("secret %s/%s: key %q is not a valid HTTP header name", namespace, ref.Name, k)
			}
			// HTTP drops leading and trailing whitespace of a field value anyway; trimming
			// forgives the trailing newline that `echo ... | kubectl create secret` leaves.
			val := strings.TrimSpace(string(v))
			if !validHeaderValue(val) {
				return outgoing{}, fmt.Errorf("secret %s/%s: value of key %q is not a valid HTTP header value", namespace, ref.Name, k)
			}
			h.Set(k, val)
			secrets = append(secrets, val)
		}
	}
	// Set last so that a Secret cannot change how the body is read.
	h.Set("Content-Type", "application/json")
	if len(key) == 0 {
		key = nil
	}
	return outgoing{header: h, key: key, secrets: newScrubber(secrets)}, nil
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a field value without splitting the
// request: no control characters except horizontal tab.
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; (b < 0x20 && b != '\t') || b == 0x7f {
			return false
		}
	}
	return true
}
