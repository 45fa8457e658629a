package controller

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// cookieView is what a Gateway does with session-affinity cookies on HTTPRoute podinfo: the
// Set-Cookie that canary responses hand out, the cookie whose requests are pinned to the
// canary, and the Set-Cookie that expires a cookie on the requests that carry it.
type cookieView struct {
	canaryWeight int32
	// handedOut is the Set-Cookie of the canary backend of the default rule.
	handedOut string
	// pinned is the cookie-header regex of the rule that sends requests to the canary alone.
	pinned string
	// expiry is the Set-Cookie of a rule that expires a cookie, and expired its cookie regex.
	expiry, expired string
}

func (v cookieView) String() string {
	return fmt.Sprintf("[canary %d%% hands out %q, pins %q, expires %q on %q]", v.canaryWeight, v.handedOut, v.pinned, v.expiry, v.expired)
}

// readCookies reads the cookieView of HTTPRoute podinfo; ok is false while it is missing.
func readCookies(ctx context.Context, ns string) (v cookieView, ok bool, err error) {
	rt := &gatewayv1.HTTPRoute{}
	if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "podinfo"}, rt); apierrors.IsNotFound(err) {
		return v, false, nil
	} else if err != nil {
		return v, false, err
	}
	setCookie := func(b gatewayv1.HTTPBackendRef) string {
		for _, f := range b.Filters {
			if m := f.ResponseHeaderModifier; m != nil {
				for _, h := range m.Add {
					if strings.EqualFold(string(h.Name), "Set-Cookie") {
						return h.Value
					}
				}
			}
		}
		return ""
	}
	cookieRegex := func(r gatewayv1.HTTPRouteRule) string {
		for _, m := range r.Matches {
			for _, h := range m.Headers {
				if strings.EqualFold(string(h.Name), "cookie") {
					return h.Value
				}
			}
		}
		return ""
	}
	for i, r := range rt.Spec.Rules {
		last := i == len(rt.Spec.Rules)-1
		for _, b := range r.BackendRefs {
			w, sc := ptr.Deref(b.Weight, 1), setCookie(b)
			switch {
			case last && b.Name == "podinfo-canary":
				v.canaryWeight, v.handedOut = w, sc
			case !last && b.Name == "podinfo-canary" && w == 100:
				v.pinned = cookieRegex(r)
			case !last && (strings.Contains(sc, "Expires=") || strings.Contains(sc, "Max-Age=0")):
				v.expiry, v.expired = sc, cookieRegex(r)
			}
		}
	}
	return v, true, nil
}

// matchesCookie reports whether a request whose Cookie header is cookie matches regex.
func matchesCookie(regex, cookie string) bool {
	re, err := regexp.Compile(regex)
	return err == nil && regex != "" && re.MatchString("other=1; "+cookie)
}

// TestSessionAffinityCookieLife follows the session-affinity cookie through two rollouts on
// Gateway API, as clients see it on the routes Siskin writes: none at rest after
// initialization, a cookie handed out and pinned while the canary takes traffic, and that same
// cookie expired once the weight is back to 0 after promotion, and while the next rollout
// hands out a cookie of its own.
func TestSessionAffinityCookieLife(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	startController(t, ns, controllerOptions{provider: siskinv1.ProviderGatewayAPI})
	runKubelet(t, ns)
	createGateway(t, ns)
	runGateway(t, ns, gatewayDelay)
	url, _, _ := hookServer(t)
	c := weightedCanary(ns, routerCase{provider: siskinv1.ProviderGatewayAPI, spec: func(c *siskinv1.Canary) {
		c.Spec.Service.GatewayRefs = []siskinv1.ParentReference{{Name: testGatewayName}}
		c.Spec.Service.Hosts = []string{"podinfo.example.com"}
	}}, siskinv1.CanaryWebhook{Name: "load", Type: siskinv1.RolloutHook, URL: url})
	c.Spec.Analysis.SessionAffinity = &siskinv1.SessionAffinity{CookieName: "flagger-cookie", MaxAge: 21600}
	setupRollout(t, ns, c)

	var mu sync.Mutex
	var seen []cookieView
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			v, ok, err := readCookies(context.Background(), ns)
			mu.Lock()
			if err == nil && ok && (len(seen) == 0 || seen[len(seen)-1] != v) {
				seen = append(seen, v)
			}
			mu.Unlock()
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	observed := func() []cookieView {
		mu.Lock()
		defer mu.Unlock()
		return append([]cookieView(nil), seen...)
	}
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-done
		if t.Failed() {
			t.Logf("routes seen: %v", observed())
		}
	})

	// rollout walks a release through to promotion and returns the cookie its canary
	// handed out while it took traffic.
	rollout := func(img string, previous string) string {
		t.Helper()
		from := len(observed())
		release(t, ns, img)
		got := waitForWithin(t, keyOf(c), "Succeeded with "+img, 5*analysisInterval, func(c *siskinv1.Canary) bool {
			return c.Status.Phase == siskinv1.PhaseSucceeded && c.Status.LastPromotedSpec == c.Status.LastAppliedSpec &&
				c.Status.LastPromotedSpec != "" && c.Status.PreviousSessionAffinityCookie != previous
		})
		// The route at rest is written right after the status that asked for it.
		var rest cookieView
		deadline := time.Now().Add(15 * time.Second)
		for {
			views := observed()
			rest = views[len(views)-1]
			if rest.canaryWeight == 0 && rest.expiry != "" && !matchesCookie(rest.expired, previous) || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}

		var handedOut string
		for _, v := range observed()[from:] {
			if v.canaryWeight == 0 {
				continue
			}
			cookie, _, _ := strings.Cut(v.handedOut, ";")
			if !strings.HasPrefix(cookie, "flagger-cookie=") || !strings.Contains(v.handedOut, "Max-Age=21600") {
				t.Fatalf("%s: at canary weight %d the canary hands out %q, want flagger-cookie=… with Max-Age=21600", img, v.canaryWeight, v.handedOut)
			}
			if handedOut != "" && cookie != handedOut {
				t.Fatalf("%s: the canary handed out %s, then %s, in one rollout", img, handedOut, cookie)
			}
			handedOut = cookie
			if !matchesCookie(v.pinned, cookie) {
				t.Errorf("%s: the canary hands out %s but pins requests on %q", img, cookie, v.pinned)
			}
			if previous != "" && (!matchesCookie(v.expired, previous) || !strings.HasPrefix(v.expiry, previous+";")) {
				t.Errorf("%s: during the rollout the previous rollout's cookie %s is not expired: %v", img, previous, v)
			}
		}
		if handedOut == "" {
			t.Fatalf("%s: the canary never took traffic with a cookie", img)
		}
		if handedOut == previous {
			t.Fatalf("%s: the rollout handed out the previous rollout's cookie %s again", img, previous)
		}
		// After promotion: the cookie clients hold is the one expired, and nothing pins.
		if rest.canaryWeight != 0 || rest.handedOut != "" || rest.pinned != "" {
			t.Errorf("%s: at rest the route still hands out or pins a cookie: %v", img, rest)
		}
		if !matchesCookie(rest.expired, handedOut) || !strings.HasPrefix(rest.expiry, handedOut+";") {
			t.Errorf("%s: at rest the route expires %q on %q, want the cookie clients hold, %s", img, rest.expiry, rest.expired, handedOut)
		}
		if !strings.Contains(rest.expiry, "Expires=Thu, 01 Jan 1970 00:00:00 GMT") {
			t.Errorf("%s: expiry %q does not delete the cookie the way RFC 6265 tells a server to", img, rest.expiry)
		}
		if got.Status.PreviousSessionAffinityCookie != handedOut || got.Status.SessionAffinityCookie != "" {
			t.Errorf("%s: status sessionAffinityCookie=%q previousSessionAffinityCookie=%q, want \"\" and %s",
				img, got.Status.SessionAffinityCookie, got.Status.PreviousSessionAffinityCookie, handedOut)
		}
		return handedOut
	}

	for i := 0; i < 100 && len(observed()) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
	}
	if init := observed(); len(init) == 0 || init[0].handedOut != "" || init[0].pinned != "" || init[0].expiry != "" {
		t.Fatalf("after initialization the route handles cookies: %v", init)
	}
	first := rollout("podinfo:6.1.0", "")
	rollout("podinfo:6.2.0", first)
}
