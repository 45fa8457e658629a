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
		path       = "/services/T0SECRET/B0SECRET/xyzSECRETxyz"
		token      = "s3cr3t-generic-token"
		rocketPath = "/hooks/r0cketHookId0000/r0cketSecretT0ken0000"
		gchatPath  = "/v1/spaces/AAAAspace/messages?key=gchatK3yK3yK3y&token=gchatT0kenT0ken"
	)
	refusing := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		// A receiver that echoes what it got must not leak it either.
		http.Error(w, "bad request to "+r.URL.RequestURI()+" with "+r.Header.Get("Authorization"), http.StatusBadRequest)
	})
	gone := newReceiver(t, nil)
	goneURL := gone.url(path)
	gone.srv.Close() // nothing listens there any more

	gp, gs := withSecret(provider("generic", TypeGeneric, ""), map[string]string{SecretKeyAddress: refusing.url(path), SecretKeyToken: token})
	unreachable, us := withSecret(provider("unreachable", TypeSlack, ""), map[string]string{SecretKeyAddress: goneURL})
	proxied := provider("proxied", TypeMSTeams, "https://example.invalid"+path)
	proxied.Spec.Proxy = "http://proxyuser:pr0xypass@" + strings.TrimPrefix(goneURL, "http://")
	// Rocket.Chat keeps its token in the path, Google Chat in the query.
	rp, rs := withSecret(provider("rocket", TypeRocket, ""), map[string]string{SecretKeyAddress: refusing.url(rocketPath)})
	gcp, gcs := withSecret(provider("gchat", TypeGChat, ""), map[string]string{SecretKeyAddress: refusing.url(gchatPath)})

	var logs logBuffer
	fails := newFailures()
	d := start(t, Options{
		Reader:      fakeReader(t, gp, gs, unreachable, us, proxied, rp, rs, gcp, gcs),
		MaxAttempts: 2,
		OnFailure:   fails.record,
		Logger:      logs.logger(),
	})
	c := testCanary(alert("g", "", "generic"), alert("u", "", "unreachable"), alert("p", "", "proxied"),
		alert("r", "", "rocket"), alert("gc", "", "gchat"))
	d.Notify(t.Context(), c, checkFailed)
	for range 5 {
		fails.next(t)
	}

	failing := d.Failing()
	if len(failing) != 5 {
		t.Fatalf("Failing() = %v, want 5 providers", failing)
	}
	shown := fmt.Sprint(failing) + "\n" + logs.String()
	for _, secret := range []string{path, "T0SECRET", "xyzSECRETxyz", token, "pr0xypass", "proxyuser",
		"r0cketHookId0000", "r0cketSecretT0ken0000", "gchatK3yK3yK3y", "gchatT0kenT0ken", "AAAAspace"} {
		if strings.Contains(shown, secret) {
			t.Errorf("%q shows up:\n%s", secret, shown)
		}
	}
	for _, name := range []string{"generic", "rocket", "gchat"} {
		if !strings.Contains(failing[types.NamespacedName{Namespace: testNS, Name: name}], refusing.srv.URL+": answered 400") {
			t.Errorf("the %s provider's error should name its scheme and host: %v", name, failing)
		}
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

// A Google Chat webhook's credentials are its query's key and token; an answer that echoes the
// token alone does not show it either.
func TestQueryTokenEchoedAloneIsRedacted(t *testing.T) {
	const token = "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_ab=" // as Google issues them, = and all
	echo := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, "invalid token "+r.URL.Query().Get("token"), http.StatusForbidden)
	})
	address := echo.url("/v1/spaces/AAAAspace/messages?key=AIzaSyDdI0hCZtE6vySjMm-WEfRq3CPzqKqqsHI&token=" + url.QueryEscape(token))
	fails := newFailures()
	d := start(t, Options{Reader: fakeReader(t, provider("gchat", TypeGChat, address)), OnFailure: fails.record})
	d.Notify(t.Context(), testCanary(alert("gc", "", "gchat")), checkFailed)
	fails.next(t)
	msg := d.Failing()[types.NamespacedName{Namespace: testNS, Name: "gchat"}]
	if !strings.Contains(msg, "answered 403 Forbidden") || !strings.Contains(msg, redacted) {
		t.Errorf("Failing message = %q, want the status and the echo redacted", msg)
	}
	if strings.Contains(msg, token) || strings.Contains(msg, strings.TrimSuffix(token, "=")) {
		t.Errorf("the token shows up: %q", msg)
	}
}

// A receiver that echoes the token where the excerpt of its answer is cut must not leave the
// token's first part in the message: the whole answer is scrubbed before it is cut.
func TestSecretEchoedWhereTheExcerptIsCutIsRedacted(t *testing.T) {
	const token = "s3cr3t-generic-token-0123456789"
	padding := strings.Repeat("x", maxExcerptBytes-10)
	echo := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Error(w, padding+" "+strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "), http.StatusBadRequest)
	})
	gp, gs := withSecret(provider("generic", TypeGeneric, ""), map[string]string{SecretKeyAddress: echo.url("/hook"), SecretKeyToken: token})
	fails := newFailures()
	d := start(t, Options{Reader: fakeReader(t, gp, gs), OnFailure: fails.record})
	d.Notify(t.Context(), testCanary(alert("g", "", "generic")), checkFailed)
	fails.next(t)
	msg := d.Failing()[types.NamespacedName{Namespace: testNS, Name: "generic"}]
	if !strings.Contains(msg, "answered 400 Bad Request") {
		t.Fatalf("Failing message = %q, want the status", msg)
	}
	if strings.Contains(msg, token[:8]) {
		t.Errorf("the first part of the token shows up: %q", msg)
	}
}
