package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"testing"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// echoHeaders answers code with the request's headers, as debugging receivers do: first as
// "Name: value" lines, then as JSON.
func echoHeaders(code int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var names []string
		for k := range r.Header {
			names = append(names, k)
		}
		sort.Strings(names)
		w.WriteHeader(code)
		for _, k := range names {
			_, _ = fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header[k], ","))
		}
		_ = json.NewEncoder(w).Encode(r.Header)
	}
}

func TestCallScrubsSecretHeaderValuesFromTheExcerpt(t *testing.T) {
	secrets := map[string][]byte{
		"Authorization":   []byte("Bearer s3cr3t-t0ken/with+chars=\n"),
		"X-Api-Key":       []byte("k3y-<&>-value"),
		"X-Tenant-Secret": []byte("short"),
	}
	source := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) { return secrets, nil })
	for _, code := range []int{http.StatusOK, http.StatusForbidden} {
		srv := newServer(t, echoHeaders(code))
		h := hook("echo", siskinv1.RolloutHook, srv.URL)
		h.SecretRef = &siskinv1.LocalObjectReference{Name: "hook-auth"}
		r := testClient(WithHeaderSource(source)).Call(context.Background(), h, testPayload)
		check := checkOf(r)
		for _, text := range []string{r.Body, r.Describe(), check.Message} {
			for _, v := range []string{"s3cr3t-t0ken", "k3y-", "short", `\u003c`} {
				if strings.Contains(text, v) {
					t.Errorf("answer %d: %q leaks %q", code, text, v)
				}
			}
			if !strings.Contains(text, Redacted) {
				t.Errorf("answer %d: %q has no %s", code, text, Redacted)
			}
		}
	}
}

func TestCallScrubsASecretEchoedWhereTheExcerptIsCut(t *testing.T) {
	const secret = "s3cr3t-t0ken-value"
	source := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
		return map[string][]byte{"X-Token": []byte(secret)}, nil
	})
	for _, pad := range []int{MaxExcerptBytes - 5, 4*MaxExcerptBytes - 5} {
		srv := newServer(t, answer(http.StatusOK, strings.Repeat(" ", pad)+secret))
		h := hook("echo", siskinv1.RolloutHook, srv.URL)
		h.SecretRef = &siskinv1.LocalObjectReference{Name: "hook-auth"}
		r := testClient(WithHeaderSource(source)).Call(context.Background(), h, testPayload)
		if strings.Contains(r.Body, secret[:4]) {
			t.Errorf("pad %d: excerpt %q keeps a prefix of the secret", pad, r.Body)
		}
	}
}

func TestCallScrubsCredentialLookingTokensWithoutASecret(t *testing.T) {
	srv := newServer(t, answer(http.StatusUnauthorized,
		`token rejected: Authorization: Bearer abcdef0123456789 {"authorization":"Basic dXNlcjpwdw=="} id=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln x-auth: Authorization=opaque-value`))
	r := testClient().Call(context.Background(), hook("h", "", srv.URL), testPayload)
	for _, v := range []string{"abcdef0123456789", "dXNlcjpwdw", "eyJhbGciOiJIUzI1NiJ9", "opaque-value"} {
		if strings.Contains(r.Describe(), v) {
			t.Errorf("%q leaks %q", r.Describe(), v)
		}
	}
	const want = `answered 401: token rejected: Authorization: Bearer <redacted> {"authorization":"Basic <redacted>"} id=<redacted> x-auth: Authorization=<redacted>`
	if r.Describe() != want {
		t.Errorf("Describe = %q\nwant       %q", r.Describe(), want)
	}
}
