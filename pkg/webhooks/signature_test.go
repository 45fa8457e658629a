package webhooks

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestSignMatchesRFC4231(t *testing.T) {
	// RFC 4231, test case 1.
	key := bytes.Repeat([]byte{0x0b}, 20)
	const want = "sha256=b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
	if got := Sign(key, []byte("Hi There")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	key, body := []byte("k"), []byte(`{"name":"podinfo"}`)
	good := Sign(key, body)
	if err := Verify(key, body, good); err != nil {
		t.Fatalf("good signature: %v", err)
	}
	for name, sig := range map[string]string{
		"empty":           "",
		"no prefix":       good[len("sha256="):],
		"not hex":         "sha256=zz",
		"other body":      Sign(key, []byte(`{"name":"other"}`)),
		"other key":       Sign([]byte("k2"), body),
		"truncated":       good[:len(good)-2],
		"other algorithm": "sha1=" + good[len("sha256="):],
	} {
		if err := Verify(key, body, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", name, err)
		}
	}
}

var (
	v2Key  = []byte("k")
	v2Body = []byte(`{"name":"podinfo"}`)
	v2Time = time.Unix(1700000000, 0)
)

func TestSignRequestFormat(t *testing.T) {
	// HMAC-SHA256 under "k" of "1700000000\nPOST\n/gate/check\n{\"name\":\"podinfo\"}",
	// computed outside Go.
	const want = "t=1700000000,v1=4720cba7f0fb328ac40e3121bdf6043a0774a20d5bad8290622d240cf8aec1c2"
	if got := SignRequest(v2Key, v2Time, http.MethodPost, "/gate/check", v2Body); got != want {
		t.Errorf("SignRequest = %s, want %s", got, want)
	}
}

func TestVerifyRequestRefusesReplayOutsideTheWindow(t *testing.T) {
	sig := SignRequest(v2Key, v2Time, http.MethodPost, "/gate/open", v2Body)
	for _, d := range []time.Duration{0, time.Minute, -time.Minute, DefaultReplayWindow, -DefaultReplayWindow} {
		if err := VerifyRequest(v2Key, v2Time.Add(d), DefaultReplayWindow, http.MethodPost, "/gate/open", v2Body, sig); err != nil {
			t.Errorf("verified %s after signing: %v, want accepted", d, err)
		}
	}
	for _, d := range []time.Duration{DefaultReplayWindow + time.Second, time.Hour, 24 * 365 * time.Hour, -DefaultReplayWindow - time.Second} {
		if err := VerifyRequest(v2Key, v2Time.Add(d), DefaultReplayWindow, http.MethodPost, "/gate/open", v2Body, sig); !errors.Is(err, ErrStaleSignature) {
			t.Errorf("replayed %s after signing: err = %v, want ErrStaleSignature", d, err)
		}
	}
}

func TestVerifyRequestRefusesAnotherPath(t *testing.T) {
	sig := SignRequest(v2Key, v2Time, http.MethodPost, "/gate/check", v2Body)
	for _, target := range []string{"/gate/open", "/rollback/open", "/gate/check/", "/gate/check?x=1", "/"} {
		if err := VerifyRequest(v2Key, v2Time, DefaultReplayWindow, http.MethodPost, target, v2Body, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signed for /gate/check, sent to %s: err = %v, want ErrBadSignature", target, err)
		}
	}
}

func TestVerifyRequestRefusesAnotherMethod(t *testing.T) {
	sig := SignRequest(v2Key, v2Time, http.MethodPost, "/gate/open", v2Body)
	for _, m := range []string{http.MethodPut, http.MethodGet, "post", ""} {
		if err := VerifyRequest(v2Key, v2Time, DefaultReplayWindow, m, "/gate/open", v2Body, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("signed for POST, sent with %q: err = %v, want ErrBadSignature", m, err)
		}
	}
}

func TestVerifyRequestRefusesMalformedOrForeignSignatures(t *testing.T) {
	good := SignRequest(v2Key, v2Time, http.MethodPost, "/", v2Body)
	_, mac, _ := strings.Cut(good, ",v1=")
	for name, sig := range map[string]string{
		"empty":           "",
		"no timestamp":    "v1=" + mac,
		"no mac":          "t=1700000000",
		"other timestamp": "t=1700000001,v1=" + mac,
		"signed t":        "t=+1700000000,v1=" + mac,
		"two timestamps":  "t=1700000000,t=1700000000,v1=" + mac,
		"short mac":       "t=1700000000,v1=" + mac[:62],
		"not hex":         "t=1700000000,v1=" + strings.Repeat("z", 64),
		"legacy value":    Sign(v2Key, v2Body),
		"other key":       SignRequest([]byte("k2"), v2Time, http.MethodPost, "/", v2Body),
		"other body":      SignRequest(v2Key, v2Time, http.MethodPost, "/", []byte(`{"name":"other"}`)),
	} {
		if err := VerifyRequest(v2Key, v2Time, DefaultReplayWindow, http.MethodPost, "/", v2Body, sig); !errors.Is(err, ErrBadSignature) {
			t.Errorf("%s: err = %v, want ErrBadSignature", name, err)
		}
	}
	// Key rotation: any one of several v1 fields may match; unknown fields are ignored.
	rotated := "t=1700000000,v1=" + strings.Repeat("0", 64) + ",v1=" + mac + ",v9=x"
	if err := VerifyRequest(v2Key, v2Time, DefaultReplayWindow, http.MethodPost, "/", v2Body, rotated); err != nil {
		t.Errorf("rotated signature: %v", err)
	}
}

// signedRequest returns a request as the load tester would receive it, signed by the header.
func signedRequest(method, target string, header http.Header) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.Header = header
	return r
}

func TestVerifierLegacySignatureOnlyWhenAccepted(t *testing.T) {
	legacy := http.Header{SignatureHeader: {Sign(v2Key, v2Body)}}
	r := signedRequest(http.MethodPost, "/gate/open", legacy)
	if err := (Verifier{Key: v2Key}).Verify(r, v2Body); !errors.Is(err, ErrLegacySignature) {
		t.Errorf("legacy signature, not accepted: err = %v, want ErrLegacySignature", err)
	}
	if err := (Verifier{Key: v2Key, AcceptLegacy: true}).Verify(r, v2Body); err != nil {
		t.Errorf("legacy signature, accepted: %v", err)
	}
	// With both headers, the new one decides.
	both := http.Header{SignatureHeader: {Sign(v2Key, v2Body)}, SignatureV2Header: {SignRequest(v2Key, v2Time, http.MethodPost, "/gate/check", v2Body)}}
	v := Verifier{Key: v2Key, AcceptLegacy: true, Now: func() time.Time { return v2Time }}
	if err := v.Verify(signedRequest(http.MethodPost, "/gate/open", both), v2Body); !errors.Is(err, ErrBadSignature) {
		t.Errorf("v2 for another path beside a good legacy header: err = %v, want ErrBadSignature", err)
	}
	if err := (Verifier{Key: v2Key}).Verify(signedRequest(http.MethodPost, "/", http.Header{}), v2Body); !errors.Is(err, ErrNoSignature) {
		t.Errorf("unsigned: err = %v, want ErrNoSignature", err)
	}
}

func TestVerifierUsesTheRequestLineAndItsClock(t *testing.T) {
	now := time.Now()
	h := http.Header{SignatureV2Header: {SignRequest(v2Key, now, http.MethodPost, "/gate/check?x=1", v2Body)}}
	if err := (Verifier{Key: v2Key}).Verify(signedRequest(http.MethodPost, "/gate/check?x=1", h), v2Body); err != nil {
		t.Errorf("fresh signature: %v", err)
	}
	later := Verifier{Key: v2Key, Now: func() time.Time { return now.Add(6 * time.Minute) }}
	if err := later.Verify(signedRequest(http.MethodPost, "/gate/check?x=1", h), v2Body); !errors.Is(err, ErrStaleSignature) {
		t.Errorf("6 minutes later: err = %v, want ErrStaleSignature", err)
	}
	wide := Verifier{Key: v2Key, Window: 10 * time.Minute, Now: later.Now}
	if err := wide.Verify(signedRequest(http.MethodPost, "/gate/check?x=1", h), v2Body); err != nil {
		t.Errorf("6 minutes later in a 10 minute window: %v", err)
	}
}

func TestKeyWithSurroundingWhitespaceVerifiesOnBothSides(t *testing.T) {
	if got := string(NormalizeKey([]byte(" \tk3y\r\n"))); got != "k3y" {
		t.Fatalf("NormalizeKey = %q, want k3y", got)
	}
	var req *http.Request
	var body []byte
	srv := newServer(t, func(_ http.ResponseWriter, r *http.Request) {
		req = r.Clone(context.Background())
		body, _ = io.ReadAll(r.Body)
	})
	// The controller reads the key from a Secret, with the newline echo leaves.
	source := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
		return map[string][]byte{SigningKeyName: []byte("k3y\n")}, nil
	})
	h := hook("h", "", srv.URL+"/gate/open")
	h.SecretRef = &siskinv1.LocalObjectReference{Name: "hook-key"}
	for name, c := range map[string]*Client{
		"secret key": testClient(WithHeaderSource(source)),
		"flag key":   testClient(WithSigningKey([]byte("  k3y \n"))),
	} {
		hh := h
		if name == "flag key" {
			hh.SecretRef = nil
		}
		if r := c.Call(context.Background(), hh, testPayload); !r.OK() {
			t.Fatalf("%s: call failed: %v", name, r.Err)
		}
		// The receiver reads its copy from a file, with other whitespace around it.
		for _, key := range []string{"k3y", "k3y\n", "\tk3y \r\n"} {
			if err := (Verifier{Key: []byte(key)}).Verify(req, body); err != nil {
				t.Errorf("%s signed, receiver key %q: %v", name, key, err)
			}
		}
	}
}
