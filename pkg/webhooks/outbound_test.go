package webhooks

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

func TestOutboundPolicyRefusesMetadataAndLinkLocalByDefault(t *testing.T) {
	for _, target := range []string{
		"http://169.254.169.254/latest/meta-data/iam/security-credentials/",
		"http://169.254.170.2/v2/credentials",
		"http://169.254.10.10:8080/",
		"http://[fd00:ec2::254]/latest/meta-data/",
		"http://[fe80::1]:8080/",
		"http://[::ffff:169.254.169.254]/",
		"http://100.100.100.200/latest/meta-data/",
	} {
		t.Run(target, func(t *testing.T) {
			h := hook("metadata", siskinv1.PreRolloutHook, target)
			h.Retries = 3
			h.SecretRef = &siskinv1.LocalObjectReference{Name: "creds"}
			source := HeaderSourceFunc(func(context.Context, string, string) (map[string][]byte, error) {
				return map[string][]byte{"Authorization": []byte("Bearer t0ken")}, nil
			})
			r := callWithin(t, testClient(WithHeaderSource(source)), h, 10*time.Second)
			if !errors.Is(r.Err, ErrRefused) {
				t.Fatalf("err = %v, want the outbound policy to refuse", r.Err)
			}
			if r.Attempts != 1 || r.StatusCode != 0 {
				t.Errorf("attempts %d, status %d: a refusal is final and sends nothing", r.Attempts, r.StatusCode)
			}
			if c := checkOf(r); c.Verdict != siskinv1.VerdictError || !strings.Contains(c.Message, "is refused by the outbound policy") {
				t.Errorf("check = %+v", c)
			}
		})
	}
}

func TestOutboundPolicyRefusalSaysWhyAndHowToAllow(t *testing.T) {
	r := testClient().Call(context.Background(), hook("h", "", "http://user:pw@169.254.10.1/x?token=1"), testPayload)
	const want = "post to http://169.254.10.1/x: webhook address 169.254.10.1 is refused by the outbound policy (link-local); see --webhook-allow-cidrs"
	if r.Err == nil || r.Err.Error() != want {
		t.Fatalf("err = %v, want %s", r.Err, want)
	}
	r = testClient().Call(context.Background(), hook("h", "", "http://169.254.169.254/"), testPayload)
	if re, ok := errors.AsType[*RefusedError](r.Err); !ok || re.Reason != "cloud metadata" {
		t.Fatalf("err = %v, want refused as cloud metadata", r.Err)
	}
}

func TestOutboundPolicyRefusesUnspecifiedAddress(t *testing.T) {
	// Linux dials 0.0.0.0 as the local host: without the policy this call reaches the server.
	var hits atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	port := srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port()
	r := testClient().Call(context.Background(), hook("h", "", "http://0.0.0.0:"+itoa(port)+"/"), testPayload)
	if !errors.Is(r.Err, ErrRefused) || hits.Load() != 0 {
		t.Fatalf("err = %v, %d requests arrived; want refused before dialling", r.Err, hits.Load())
	}
}

func TestOutboundPolicyChecksTheResolvedAddress(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	port := itoa(srv.Listener.Addr().(interface{ AddrPort() netip.AddrPort }).AddrPort().Port())
	deny, err := ParseCIDRs("127.0.0.0/8, ::1")
	if err != nil {
		t.Fatal(err)
	}
	c := testClient(WithOutboundPolicy(OutboundPolicy{Deny: deny}))
	// A DNS name is no way around the policy: the address it resolves to is checked.
	r := c.Call(context.Background(), hook("h", "", "http://localhost:"+port+"/"), testPayload)
	if !errors.Is(r.Err, ErrRefused) || hits.Load() != 0 {
		t.Fatalf("localhost with loopback denied: err = %v, %d requests arrived", r.Err, hits.Load())
	}
	if !strings.Contains(r.Err.Error(), "listed in --webhook-deny-cidrs as 127.0.0.0/8") &&
		!strings.Contains(r.Err.Error(), "listed in --webhook-deny-cidrs as ::1/128") {
		t.Errorf("err = %v, want it to name the deny entry", r.Err)
	}
	// A more specific allow wins over the deny.
	c = testClient(WithOutboundPolicy(OutboundPolicy{Deny: deny, Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}))
	if r := c.Call(context.Background(), hook("h", "", srv.URL), testPayload); !r.OK() || hits.Load() != 1 {
		t.Fatalf("allowed 127.0.0.1: err = %v, %d requests arrived", r.Err, hits.Load())
	}
}

func TestOutboundPolicyChecksTheTargetBehindAProxy(t *testing.T) {
	var hits atomic.Int32
	proxy := newServer(t, func(http.ResponseWriter, *http.Request) { hits.Add(1) })
	proxyURL, _ := url.Parse(proxy.URL)
	viaProxy := OutboundPolicy{}.proxy(func(*http.Request) (*url.URL, error) { return proxyURL, nil })
	hc := &http.Client{Transport: &http.Transport{Proxy: viaProxy}}

	req := httptest.NewRequest(http.MethodGet, "http://169.254.169.254/latest/", nil)
	req.RequestURI = ""
	if resp, err := hc.Do(req); !errors.Is(err, ErrRefused) || hits.Load() != 0 {
		if resp != nil {
			_ = resp.Body.Close()
		}
		t.Fatalf("metadata through a proxy: err = %v, %d requests reached the proxy", err, hits.Load())
	}
	req = httptest.NewRequest(http.MethodGet, "http://127.0.0.1:9/", nil)
	req.RequestURI = ""
	resp, err := hc.Do(req)
	if err != nil || hits.Load() != 1 {
		t.Fatalf("allowed target through a proxy: err = %v, %d requests reached the proxy", err, hits.Load())
	}
	_ = resp.Body.Close()
}

func TestOutboundPolicyCheck(t *testing.T) {
	p := func(s string) []netip.Prefix {
		out, err := ParseCIDRs(s)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	cases := []struct {
		policy OutboundPolicy
		addr   string
		reason string // empty: allowed
	}{
		{OutboundPolicy{}, "127.0.0.1", ""},
		{OutboundPolicy{}, "::1", ""},
		{OutboundPolicy{}, "10.96.0.10", ""},
		{OutboundPolicy{}, "2001:db8::1", ""},
		{OutboundPolicy{}, "169.254.1.1", "link-local"},
		{OutboundPolicy{}, "fe80::1%eth0", "link-local"},
		{OutboundPolicy{}, "febf::1", "link-local"},
		{OutboundPolicy{}, "169.254.169.254", "cloud metadata"},
		{OutboundPolicy{}, "::ffff:169.254.169.254", "cloud metadata"},
		{OutboundPolicy{}, "64:ff9b::169.254.169.254", "link-local"},
		{OutboundPolicy{}, "0.0.0.0", "unspecified"},
		{OutboundPolicy{}, "::", "unspecified"},
		{OutboundPolicy{Allow: p("169.254.0.0/16")}, "169.254.20.10", ""},
		{OutboundPolicy{Allow: p("169.254.0.0/16")}, "169.254.169.254", "cloud metadata"},
		{OutboundPolicy{Allow: p("169.254.169.254")}, "169.254.169.254", ""},
		{OutboundPolicy{Allow: p("::ffff:169.254.169.254/128")}, "169.254.169.254", ""},
		{OutboundPolicy{Deny: p("10.0.0.0/8")}, "10.1.2.3", "listed in --webhook-deny-cidrs as 10.0.0.0/8"},
		{OutboundPolicy{Deny: p("10.0.0.0/8"), Allow: p("10.1.0.0/16")}, "10.1.2.3", ""},
		{OutboundPolicy{Deny: p("10.1.0.0/16"), Allow: p("10.1.0.0/16")}, "10.1.2.3", "listed in --webhook-deny-cidrs as 10.1.0.0/16"},
	}
	for _, c := range cases {
		err := c.policy.Check(netip.MustParseAddr(c.addr))
		re, refused := errors.AsType[*RefusedError](err)
		switch {
		case c.reason == "" && err != nil:
			t.Errorf("%+v refuses %s: %v", c.policy, c.addr, err)
		case c.reason != "" && (!refused || re.Reason != c.reason):
			t.Errorf("%+v: %s err = %v, want refused (%s)", c.policy, c.addr, err, c.reason)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	got, err := ParseCIDRs(" 10.1.2.3/8, fd00::1 ,,169.254.169.254")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::1/128"), netip.MustParsePrefix("169.254.169.254/32")}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("ParseCIDRs = %v, want %v", got, want)
	}
	if got, err := ParseCIDRs(""); err != nil || len(got) != 0 {
		t.Errorf("empty = %v, %v", got, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0.0/8,nope"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
	if _, err := ParseOutboundPolicy("", "x"); err == nil || !strings.Contains(err.Error(), "--webhook-deny-cidrs") {
		t.Errorf("ParseOutboundPolicy error %v does not name the flag", err)
	}
}

func itoa(port uint16) string { return strconv.Itoa(int(port)) }
