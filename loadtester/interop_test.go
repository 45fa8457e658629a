package loadtester

import (
	"net/http"
	"testing"

	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// The controller's webhook client and the load tester must agree on the signature format.
func TestSignatureMatchesSiskinWebhookClient(t *testing.T) {
	key := []byte("shared-key")
	body := payload(t, podinfo)
	s := newServer(t, Options{Secret: key, RequireSignature: true})
	header := http.Header{SignatureHeader: {webhooks.Sign(key, body)}}
	if code, msg := call(t, s, "/gate/check", body, header); code != http.StatusForbidden {
		t.Errorf("call signed by the controller's client = %d %q, want 403 (authenticated, gate closed)", code, msg)
	}
}
