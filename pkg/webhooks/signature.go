package webhooks

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// SignatureV2Header is the HTTP header that carries the signature of a call's timestamp,
// method, request target and body:
//
//	X-Siskin-Signature-V2: t=<unix seconds>,v1=<lowercase hex HMAC-SHA256>
//
// The HMAC is computed under the signing key over the bytes
//
//	<t> "\n" <METHOD> "\n" <request target> "\n" <body>
//
// where <t> is the decimal Unix time of the t field, <METHOD> the HTTP method as sent ("POST")
// and <request target> the path and query as sent on the request line ("/gate/open", or "/"
// for a URL without a path). A receiver accepts it only within a replay window around its own
// clock (DefaultReplayWindow), so a captured request cannot be replayed later, nor sent to
// another endpoint or with another method. Several v1 fields may be given; one must match.
const SignatureV2Header = "X-Siskin-Signature-V2"

// SignatureHeader is the legacy header that carries the signature of a call's body alone:
// "sha256=<lowercase hex HMAC-SHA256 of the body>". It can be replayed, and a body signed for
// one endpoint is valid at any other, so the controller sends it only when configured to
// (WithLegacySignature) and receivers should accept it only while they migrate.
const SignatureHeader = "X-Siskin-Signature"

// SigningKeyName is the reserved Secret key that holds a webhook's signing key; it is never
// sent as a header.
const SigningKeyName = "signing-key"

// DefaultReplayWindow is how far a signature's timestamp may be from the receiver's clock, in
// either direction, when a Verifier sets no window.
const DefaultReplayWindow = 5 * time.Minute

const signaturePrefix = "sha256="

// Errors of signature verification; all but ErrNoSignature mean the request is not Siskin's or
// was replayed.
var (
	// ErrNoSignature: the request carries no signature header.
	ErrNoSignature = errors.New("missing " + SignatureV2Header + " header")
	// ErrBadSignature: a signature is malformed or does not match the request.
	ErrBadSignature = errors.New("webhook signature does not match the request")
	// ErrStaleSignature: the signature's timestamp is outside the replay window.
	ErrStaleSignature = errors.New("webhook signature timestamp is outside the replay window")
	// ErrLegacySignature: the request carries only the body-only signature and the receiver
	// does not accept it.
	ErrLegacySignature = errors.New("only a legacy " + SignatureHeader + " header, which this receiver does not accept; sign with " + SignatureV2Header)
)

// NormalizeKey returns the signing key as both sides use it: without surrounding whitespace.
// Keys are read from files and Secrets, which usually end in a newline that is not part of
// the key. The controller and the load tester both call it, so that they always agree.
func NormalizeKey(key []byte) []byte {
	key = bytes.TrimSpace(key)
	if len(key) == 0 {
		return nil
	}
	return bytes.Clone(key)
}

// Sign returns the value of the legacy SignatureHeader for body: "sha256=" followed by the
// lowercase hex HMAC-SHA256 of the exact body bytes under key.
func Sign(key, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write(body)
	return signaturePrefix + hex.EncodeToString(mac.Sum(nil))
}

// Verify checks that signature (the value of the legacy SignatureHeader) is the signature of
// body under key, in constant time.
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

// SignRequest returns the value of the SignatureV2Header for a request sent at t with method
// to target (path and query, as on the request line) with body.
func SignRequest(key []byte, t time.Time, method, target string, body []byte) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(requestMAC(key, ts, method, target, body))
}

func requestMAC(key []byte, ts int64, method, target string, body []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(strconv.AppendInt(nil, ts, 10))
	mac.Write([]byte("\n" + method + "\n" + target + "\n"))
	mac.Write(body)
	return mac.Sum(nil)
}

// VerifyRequest checks that signature (the value of the SignatureV2Header) signs method,
// target and body under key, with a timestamp at most window away from now. It compares in
// constant time. A method that is not an HTTP token or a target with spaces or control
// characters never verifies, which keeps the signed string unambiguous.
func VerifyRequest(key []byte, now time.Time, window time.Duration, method, target string, body []byte, signature string) error {
	ts, sums, ok := parseSignatureV2(signature)
	if !ok || !validHeaderName(method) || !validTarget(target) {
		return ErrBadSignature
	}
	want := requestMAC(key, ts, method, target, body)
	matched := false
	for _, s := range sums {
		// Every candidate is compared, so that the time taken does not tell which matched.
		if hmac.Equal(s, want) {
			matched = true
		}
	}
	if !matched {
		return ErrBadSignature
	}
	// Checked after the MAC, so an attacker learns nothing about the window from forgeries.
	if n, w := now.Unix(), int64(window/time.Second); ts < n-w || ts > n+w {
		return ErrStaleSignature
	}
	return nil
}

// parseSignatureV2 parses "t=<unix>,v1=<hex>[,v1=<hex>...]"; unknown fields are ignored so
// that a later scheme can be sent alongside v1.
func parseSignatureV2(s string) (int64, [][]byte, bool) {
	var (
		ts    int64
		haveT bool
		sums  [][]byte
	)
	for _, field := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return 0, nil, false
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || haveT || v == "" || v[0] == '+' {
				return 0, nil, false
			}
			ts, haveT = n, true
		case "v1":
			b, err := hex.DecodeString(v)
			if err != nil || len(b) != sha256.Size {
				return 0, nil, false
			}
			sums = append(sums, b)
		}
	}
	return ts, sums, haveT && len(sums) > 0
}

// validTarget reports whether target can be a request target: not empty, and no spaces or
// control characters.
func validTarget(target string) bool {
	if target == "" {
		return false
	}
	for i := 0; i < len(target); i++ {
		if b := target[i]; b <= ' ' || b == 0x7f {
			return false
		}
	}
	return true
}

// Verifier checks the signatures of requests Siskin sent; receivers such as the load tester
// use it.
type Verifier struct {
	// Key is the signing key; Verify normalises it with NormalizeKey.
	Key []byte
	// Window is the replay window; 0 means DefaultReplayWindow.
	Window time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// AcceptLegacy accepts a request that carries only the legacy body-only SignatureHeader.
	AcceptLegacy bool
}

// Verify checks the signature of r, whose body (already read) is body. It returns nil for a
// valid SignatureV2Header (or, with AcceptLegacy, a valid legacy header alone); otherwise
// ErrNoSignature, ErrBadSignature, ErrStaleSignature or ErrLegacySignature.
func (v Verifier) Verify(r *http.Request, body []byte) error {
	key := NormalizeKey(v.Key)
	if sig := r.Header.Get(SignatureV2Header); sig != "" {
		now, window := time.Now, v.Window
		if v.Now != nil {
			now = v.Now
		}
		if window <= 0 {
			window = DefaultReplayWindow
		}
		return VerifyRequest(key, now(), window, r.Method, r.URL.RequestURI(), body, sig)
	}
	if sig := r.Header.Get(SignatureHeader); sig != "" {
		if !v.AcceptLegacy {
			return ErrLegacySignature
		}
		return Verify(key, body, sig)
	}
	return ErrNoSignature
}
