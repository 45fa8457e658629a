package webhooks

import (
	"bytes"
	"testing"
	"time"
)

// FuzzVerify checks that VerifyRequest never panics, whatever the signature header holds, and
// that a signature made for one (time, method, target, body) verifies for no other request and
// not outside the replay window, while it does verify for its own request within it.
func FuzzVerify(f *testing.F) {
	body := []byte(`{"name":"podinfo","namespace":"test"}`)
	f.Add([]byte("k"), int64(1700000000), "POST", "/gate/check", body, int64(0), "POST", "/gate/open", body, "")
	f.Add([]byte("k"), int64(1700000000), "POST", "/gate/open", body, int64(301), "POST", "/gate/open", body, "t=1700000000,v1=00")
	f.Add([]byte(""), int64(0), "POST", "/", []byte{}, int64(-300), "PUT", "/", []byte{}, "t=0,v1=,v1=zz")
	f.Add([]byte("k\n"), int64(-1), "POST\n/a", "/b", body, int64(5), "POST", "/a\n/b", body, "t=-1,t=2")
	f.Fuzz(func(t *testing.T, key []byte, ts int64, method, target string, body []byte,
		skew int64, method2, target2 string, body2 []byte, header string) {
		// Keep the times where time.Unix round-trips and the window arithmetic cannot overflow.
		ts %= 1 << 40
		skew %= 1 << 20
		signed, at := time.Unix(ts, 0), time.Unix(ts+skew, 0)
		window := DefaultReplayWindow

		_ = VerifyRequest(key, at, window, method2, target2, body2, header)

		sig := SignRequest(key, signed, method, target, body)
		err := VerifyRequest(key, at, window, method2, target2, body2, sig)
		same := method == method2 && target == target2 && bytes.Equal(body, body2)
		inWindow := skew >= -int64(window/time.Second) && skew <= int64(window/time.Second)
		switch {
		case err == nil && !same:
			t.Fatalf("signature for %q %q %q verified for %q %q %q", method, target, body, method2, target2, body2)
		case err == nil && !inWindow:
			t.Fatalf("signature made at %d verified at %d, outside the window", ts, ts+skew)
		case err != nil && same && inWindow && validHeaderName(method) && validTarget(target):
			t.Fatalf("signature for %q %q %q refused for itself: %v", method, target, body, err)
		}
	})
}
