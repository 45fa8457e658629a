package loadtester

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-logr/logr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/webhooks"
)

// The controller's webhook client and the load tester must agree on the signature format.
func TestSignatureMatchesSiskinWebhookClient(t *testing.T) {
	key := []byte("shared-key")
	srv := httptest.NewServer(newServer(t, Options{Secret: key, RequireSignature: true}))
	t.Cleanup(srv.Close)
	c := webhooks.New(webhooks.WithSigningKey(key))
	hook := siskinv1.CanaryWebhook{Name: "gate", Type: siskinv1.ConfirmPromotionHook, URL: srv.URL + "/gate/check"}
	p := webhooks.Payload{Name: "podinfo", Namespace: "test", Checksum: "rev1"}
	if r := c.Call(context.Background(), hook, p); r.StatusCode != http.StatusForbidden {
		t.Errorf("call signed by the controller's client = %s, want 403 (authenticated, gate closed)", r.Describe())
	}
}

// Both sides read the key from a Secret or a file, with whatever whitespace came with it, and
// must still agree: one normalisation, webhooks.NormalizeKey, serves both.
func TestKeyWithSurroundingWhitespaceVerifiesOnBothSides(t *testing.T) {
	file := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(file, []byte(" k3y \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := Config{GateStore: GateStoreMemory, SignatureSecretFile: file, RequireSignature: true}.options(logr.Discard())
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(newServer(t, opts))
	t.Cleanup(srv.Close)
	source := webhooks.HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
		return map[string][]byte{webhooks.SigningKeyName: []byte("k3y\n")}, nil
	})
	c := webhooks.New(webhooks.WithHeaderSource(source))
	hook := siskinv1.CanaryWebhook{Name: "gate", URL: srv.URL + "/gate/check", SecretRef: &siskinv1.LocalObjectReference{Name: "hook-key"}}
	p := webhooks.Payload{Name: "podinfo", Namespace: "test", Checksum: "rev1"}
	if r := c.Call(context.Background(), hook, p); r.StatusCode != http.StatusForbidden {
		t.Errorf("call signed with the Secret's key = %s, want 403 (authenticated, gate closed)", r.Describe())
	}
}
