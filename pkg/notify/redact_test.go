package notify

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

// Webhook paths, tokens and proxy credentials appear in no error, health message or log line,
// whether the receiver refuses, is unreachable, or the proxy is.
func TestSecretsNeverShow(t *testing.T) {
	const (
		path  = "/services/T0SECRET/B0SECRET/xyzSECRETxyz"
		token = "s3cr3t-generic-token"
	)
	refusing := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		// A receiver that echoes what it got must not leak it either.
		http.Error(w, "bad request to "+r.URL.Path+" with "+r.Header.Get("Authorization"), http.StatusBadRequest)
	})
	gone := newReceiver(t, nil)
	goneURL := gone.url(path)
	gone.srv.Close() // nothing listens there any more

	gp, gs := withSecret(provider("generic", TypeGeneric, ""), map[string]string{SecretKeyAddress: refusing.url(path), SecretKeyToken: token})
	unreachable, us := withSecret(provider("unreachable", TypeSlack, ""), map[string]string{SecretKeyAddress: goneURL})
	proxied := provider("proxied", TypeMSTeams, "https://example.invalid"+path)
	proxied.Spec.Proxy = "http://proxyuser:pr0xypass@" + strings.TrimPrefix(goneURL, "http://")

	var logs logBuffer
	fails := newFailures()
	d := start(t, Options{
		Reader:      fakeReader(t, gp, gs, unreachable, us, proxied),
		MaxAttempts: 2,
		OnFailure:   fails.record,
		Logger:      logs.logger(),
	})
	c := testCanary(alert("g", "", "generic"), alert("u", "", "unreachable"), alert("p", "", "proxied"))
	d.Notify(t.Context(), c, checkFailed)
	for range 3 {
		fails.next(t)
	}

	failing := d.Failing()
	if len(failing) != 3 {
		t.Fatalf("Failing() = %v, want 3 providers", failing)
	}
	shown := fmt.Sprint(failing) + "\n" + logs.String()
	for _, secret := range []string{path, "T0SECRET", "xyzSECRETxyz", token, "pr0xypass", "proxyuser"} {
		if strings.Contains(shown, secret) {
			t.Errorf("%q shows up:\n%s", secret, shown)
		}
	}
	if !strings.Contains(failing[types.NamespacedName{Namespace: testNS, Name: "generic"}], refusing.srv.URL+": answered 400") {
		t.Errorf("the generic provider's error should name its scheme and host: %v", failing)
	}
}

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://hooks.slack.com/services/T/B/X":         "https://hooks.slack.com",
		"https://user:pass@example.com:8443/a?token=abc": "https://example.com:8443",
		"not a url": "<invalid URL>",
		"":          "<invalid URL>",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTransportErrorDropsTheURL(t *testing.T) {
	d := destination{Type: TypeGeneric, Address: "https://example.com/hook/abcdef", Token: "tok-123456"}
	err := transportError(d.where(), &url.Error{Op: "Post", URL: d.Address, Err: errors.New("dial tcp: connection refused")}, secretsOf(d))
	if want := "post to https://example.com: dial tcp: connection refused"; err.Error() != want || !err.retry {
		t.Errorf("transportError = %q (retry %v), want %q, retried", err, err.retry, want)
	}
	if s := fmt.Sprint(d); strings.Contains(s, "abcdef") || strings.Contains(s, "tok-123456") {
		t.Errorf("destination prints its secrets: %s", s)
	}
}
