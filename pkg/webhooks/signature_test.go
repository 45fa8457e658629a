package webhooks

import (
	"bytes"
	"errors"
	"testing"
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
