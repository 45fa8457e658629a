package dashboard

import (
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
	"github.com/siskin-dev/siskin/pkg/router"
	"github.com/siskin-dev/siskin/pkg/target"
)

// History bounds per Canary: enough for a long rollout, small enough for a large fleet.
const (
	maxTraffic = 1000
	maxChecks  = 2000
)

// trafficPoint is the canary's weight and phase as the watch saw them.
type trafficPoint struct {
	Time   time.Time `json:"time"`
	Weight int32     `json:"weight"`
	Phase  string    `json:"phase"`
}

// checkPoint is one check of one analysis step, with the canary weight it ran at.
type checkPoint struct {
	siskinv1.CheckResult
	Weight    int32 `json:"weight"`
	Iteration int32 `json:"iteration"`
}

// record is what the watch taught about one Canary since the server started.
type record struct {
	uid     types.UID
	traffic []trafficPoint
	checks  []checkPoint
	seen    map[string]bool
}

// hub keeps each Canary's history from the watch and wakes the streams when anything changes.
type hub struct {
	mu      sync.Mutex
	records map[types.NamespacedName]*record
	// versions count the changes of each Canary and of its Events, so that a stream rebuilds
	// a Canary page only when something on it changed.
	versions map[types.NamespacedName]uint64
	// related maps the objects a Canary page shows (target, primary, Services, route: all
	// named after the target or the apex Service) to their Canaries.
	related map[types.NamespacedName]map[types.NamespacedName]bool
	// names are the object names each Canary registered in related.
	names map[types.NamespacedName][]string
	// changed is closed, and replaced, on every change.
	changed chan struct{}
	now     func() time.Time
}

func newHub() *hub {
	return &hub{records: map[types.NamespacedName]*record{}, versions: map[types.NamespacedName]uint64{},
		related: map[types.NamespacedName]map[types.NamespacedName]bool{}, names: map[types.NamespacedName][]string{}, changed: make(chan struct{}), now: time.Now}
}

// wait returns a channel closed at the next change.
func (h *hub) wait() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.changed
}

func (h *hub) notifyLocked() {
	close(h.changed)
	h.changed = make(chan struct{})
}

// touch records a change to the Canary key (one of its Events).
func (h *hub) touch(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.versions[key]++
	h.notifyLocked()
}

// version is the change count of the Canary key.
func (h *hub) version(key types.NamespacedName) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.versions[key]
}

// observe records a Canary as the watch delivered it.
func (h *hub) observe(c *siskinv1.Canary) {
	h.mu.Lock()
	defer h.mu.Unlock()
	key := types.NamespacedName{Namespace: c.Namespace, Name: c.Name}
	h.versions[key]++
	h.relateLocked(key, objectNames(c))
	r := h.records[key]
	if r == nil || r.uid != c.UID {
		r = &record{uid: c.UID, seen: map[string]bool{}}
		h.records[key] = r
	}
	st := &c.Status
	// A round runs its checks, then moves the weight, and writes both at once: the checks ran
	// at the weight seen before this status (at the current one for the first status seen).
	checkedAt := st.CanaryWeight
	if n := len(r.traffic); n > 0 {
		checkedAt = r.traffic[n-1].Weight
	}
	p := trafficPoint{Time: h.now(), Weight: st.CanaryWeight, Phase: string(st.Phase)}
	if len(r.traffic) == 0 && st.LastTransitionTime != nil {
		// What status holds: the weight has been this since its last transition.
		p.Time = st.LastTransitionTime.Time
	}
	if n := len(r.traffic); n == 0 || r.traffic[n-1].Weight != p.Weight || r.traffic[n-1].Phase != p.Phase {
		r.traffic = appendBounded(r.traffic, p, maxTraffic)
	}
	for _, ch := range st.LastChecks {
		id := ch.Name + "\x00" + ch.Time.UTC().Format(time.RFC3339Nano)
		if r.seen[id] {
			continue
		}
		r.seen[id] = true
		r.checks = appendBounded(r.checks, checkPoint{CheckResult: ch, Weight: checkedAt, Iteration: st.Iterations}, maxChecks)
	}
	if len(r.seen) > 2*maxChecks {
		r.seen = map[string]bool{}
		for _, ch := range r.checks {
			r.seen[ch.Name+"\x00"+ch.Time.UTC().Format(time.RFC3339Nano)] = true
		}
	}
	h.notifyLocked()
}

func (h *hub) forget(key types.NamespacedName) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.records, key)
	h.relateLocked(key, nil)
	h.versions[key]++
	h.notifyLocked()
}

// history returns copies of a Canary's traffic and checks.
func (h *hub) history(key types.NamespacedName, uid types.UID) ([]trafficPoint, []checkPoint) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.records[key]
	if r == nil || r.uid != uid {
		return nil, nil
	}
	return append([]trafficPoint(nil), r.traffic...), append([]checkPoint(nil), r.checks...)
}

func appendBounded[T any](s []T, v T, limit int) []T {
	s = append(s, v)
	if len(s) > limit {
		s = append(s[:0:0], s[len(s)-limit:]...)
	}
	return s
}

func (h *hub) canaryHandler() toolscache.ResourceEventHandler {
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if c, ok := obj.(*siskinv1.Canary); ok {
				h.observe(c)
			}
		},
		UpdateFunc: func(_, obj any) {
			if c, ok := obj.(*siskinv1.Canary); ok {
				h.observe(c)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if c, ok := obj.(*siskinv1.Canary); ok {
				h.forget(types.NamespacedName{Namespace: c.Namespace, Name: c.Name})
			}
		},
	}
}

// eventHandler wakes the streams when a Canary's Event arrives; the Events themselves are read
// from the cache when a page is built.
func (h *hub) eventHandler() toolscache.ResourceEventHandler {
	wake := func(obj any) {
		if e, ok := obj.(*corev1.Event); ok {
			h.touch(types.NamespacedName{Namespace: e.InvolvedObject.Namespace, Name: e.InvolvedObject.Name})
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(_, obj any) { wake(obj) },
	}
}

// objectNames are the names of the objects of Canary c's tree.
func objectNames(c *siskinv1.Canary) []string {
	apex, primary, canaryName := router.ServiceNames(c)
	return []string{c.Spec.TargetRef.Name, target.PrimaryName(c.Spec.TargetRef.Name), apex, primary, canaryName}
}

func (h *hub) relateLocked(key types.NamespacedName, names []string) {
	for _, n := range h.names[key] {
		obj := types.NamespacedName{Namespace: key.Namespace, Name: n}
		delete(h.related[obj], key)
		if len(h.related[obj]) == 0 {
			delete(h.related, obj)
		}
	}
	if names == nil {
		delete(h.names, key)
		return
	}
	h.names[key] = names
	for _, n := range names {
		obj := types.NamespacedName{Namespace: key.Namespace, Name: n}
		if h.related[obj] == nil {
			h.related[obj] = map[types.NamespacedName]bool{}
		}
		h.related[obj][key] = true
	}
}

// objectHandler wakes the pages of the Canaries whose tree shows the object that changed.
func (h *hub) objectHandler() toolscache.ResourceEventHandler {
	wake := func(obj any) {
		if d, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
			obj = d.Obj
		}
		m, err := apimeta.Accessor(obj)
		if err != nil {
			return
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		keys := h.related[types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}]
		for key := range keys {
			h.versions[key]++
		}
		if len(keys) > 0 {
			h.notifyLocked()
		}
	}
	return toolscache.ResourceEventHandlerFuncs{
		AddFunc:    wake,
		UpdateFunc: func(_, obj any) { wake(obj) },
		DeleteFunc: wake,
	}
}
