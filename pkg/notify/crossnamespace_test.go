package notify

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// events records Eventf calls as "Type Reason namespace/name: note".
type events struct {
	mu   sync.Mutex
	list []string
}

func (e *events) Eventf(regarding, _ runtime.Object, eventtype, reason, _, note string, args ...any) {
	name := "?"
	if o, ok := regarding.(client.Object); ok {
		name = client.ObjectKeyFromObject(o).String()
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.list = append(e.list, fmt.Sprintf("%s %s %s: %s", eventtype, reason, name, fmt.Sprintf(note, args...)))
}

func (e *events) all() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.list...)
}

// platformSlack is an AlertProvider of namespace platform whose Secret holds its webhook URL:
// the credential a Canary of another namespace must not be able to post with.
func platformSlack(address string) []client.Object {
	p, s := withSecret(provider("slack", TypeSlack, ""), map[string]string{SecretKeyAddress: address})
	p.Namespace, s.Namespace = "platform", "platform"
	return []client.Object{p, s}
}

func crossNamespaceAlert(name, namespace, providerName string) siskinv1.CanaryAlert {
	a := alert(name, "", providerName)
	a.ProviderRef.Namespace = namespace
	return a
}

const refusal = "alert provider platform/slack is in another namespace; cross-namespace references are refused (--allow-cross-namespace-refs)"

// A Canary's alert naming another namespace's AlertProvider is refused by default: nothing
// reaches that provider's address, the Canary gets a Warning event saying why, the log says so,
// the message counts as not delivered, and the other team's provider is not marked failing.
// The Canary's own providers still get the message.
func TestCrossNamespaceProviderRefIsRefused(t *testing.T) {
	platform := newReceiver(t, nil)
	own := newReceiver(t, nil)
	objs := append(platformSlack(platform.url("/services/T0PLATFORM/B0PLATFORM/platformsecrettoken")),
		provider("own", TypeGeneric, own.url("/own")))
	rec := &events{}
	var logs logBuffer
	fails := newFailures()
	d := start(t, Options{Reader: fakeReader(t, objs...), Events: rec, OnFailure: fails.record})

	c := testCanary(crossNamespaceAlert("borrowed", "platform", "slack"), alert("own", "", "own"))
	d.Notify(logr.NewContext(t.Context(), logs.logger()), c, checkFailed)

	own.next(t)
	platform.quiet(t, 200*time.Millisecond)
	if got := fails.next(t); got != "test/podinfo unknown" {
		t.Errorf("OnFailure(%s), want test/podinfo unknown", got)
	}
	want := "Warning " + ReasonCrossNamespaceRefRefused + " test/podinfo: alert borrowed not sent: " + refusal
	if got := rec.all(); len(got) != 1 || got[0] != want {
		t.Errorf("events = %q, want [%q]", got, want)
	}
	if !strings.Contains(logs.String(), refusal) {
		t.Errorf("the log does not say %q:\n%s", refusal, logs.String())
	}
	if h, ok := d.Health(types.NamespacedName{Namespace: "platform", Name: "slack"}); ok {
		t.Errorf("Health(platform/slack) = %+v; a refused reference must not touch the other namespace's provider", h)
	}
	if err := checkRef(testNS, types.NamespacedName{Namespace: "platform", Name: "slack"}, false); !errors.Is(err, ErrCrossNamespaceRef) {
		t.Errorf("checkRef = %v, want ErrCrossNamespaceRef", err)
	}
}

// A Canary whose only alerts are refused sends nothing at all: not to the global senders
// either, which serve the Canaries without alerts.
func TestRefusedAlertsDoNotFallBackToGlobalSenders(t *testing.T) {
	platform := newReceiver(t, nil)
	global := newReceiver(t, nil)
	fails := newFailures()
	d := start(t, Options{
		Reader:    fakeReader(t, platformSlack(platform.url("/services/T/B/platform"))...),
		Global:    GlobalOptions{MSTeamsURL: global.url("/teams")},
		OnFailure: fails.record,
	})
	d.Notify(t.Context(), testCanary(crossNamespaceAlert("borrowed", "platform", "slack")), checkFailed)
	fails.next(t)
	platform.quiet(t, 100*time.Millisecond)
	global.quiet(t, 100*time.Millisecond)
}

// The operator may allow cross-namespace references; and the global senders, which are the
// operator's own, serve the Canaries without alerts of every namespace either way.
func TestCrossNamespaceProviderRefWhenAllowed(t *testing.T) {
	platform := newReceiver(t, nil)
	global := newReceiver(t, nil)
	rec := &events{}
	d := start(t, Options{
		Reader:                  fakeReader(t, platformSlack(platform.url("/services/T/B/platform"))...),
		Global:                  GlobalOptions{MSTeamsURL: global.url("/teams")},
		Events:                  rec,
		AllowCrossNamespaceRefs: true,
	})
	d.Notify(t.Context(), testCanary(crossNamespaceAlert("borrowed", "platform", "slack")), checkFailed)
	platform.next(t)

	other := testCanary()
	other.ObjectMeta = metav1.ObjectMeta{Namespace: "team-b", Name: "frontend"}
	d.Notify(t.Context(), other, checkFailed)
	global.next(t)
	if got := rec.all(); len(got) != 0 {
		t.Errorf("events = %q, want none", got)
	}
}
