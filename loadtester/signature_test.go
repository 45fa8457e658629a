package loadtester

import (
	"net/http"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/pkg/webhooks"
)

func TestSignedRequestReplayedOutsideTheWindowIsRefused(t *testing.T) {
	key := []byte("k")
	body := payload(t, podinfo)
	s := newServer(t, Options{Secret: key, RequireSignature: true})
	captured := time.Now().Add(-webhooks.DefaultReplayWindow - time.Minute)
	h := http.Header{SignatureHeader: {webhooks.SignRequest(key, captured, http.MethodPost, "/gate/open", body)}}
	if code, msg := call(t, s, "/gate/open", body, h); code != http.StatusUnauthorized {
		t.Errorf("replayed request = %d %q, want 401", code, msg)
	}
}

func TestRequestSignedForGateCheckIsRefusedAtGateOpen(t *testing.T) {
	key := []byte("k")
	body := payload(t, podinfo)
	s := newServer(t, Options{Secret: key, RequireSignature: true})
	h := http.Header{SignatureHeader: {webhooks.SignRequest(key, time.Now(), http.MethodPost, "/gate/check", body)}}
	if code, msg := call(t, s, "/gate/check", body, h); code == http.StatusUnauthorized {
		t.Fatalf("request at the path it was signed for = %d %q", code, msg)
	}
	for _, path := range []string{"/gate/open", "/rollback/open", "/"} {
		if code, msg := call(t, s, path, body, h); code != http.StatusUnauthorized {
			t.Errorf("signed for /gate/check, sent to %s = %d %q, want 401", path, code, msg)
		}
	}
}
