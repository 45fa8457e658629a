package gate

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// writeBackoff spaces retries after a conflict; the jitter desynchronises replicas that
// collided, and the step count covers a burst of writers to the same ConfigMap.
var writeBackoff = wait.Backoff{Steps: 12, Duration: 5 * time.Millisecond, Factor: 1.5, Jitter: 1, Cap: time.Second}

// ConfigMap keeps gates as entries of one ConfigMap, created on first use: the entry
// "<kind>.<namespace>.<name>" holds {"revision", "open", "since"} as JSON. An entry in any
// other form (such as the "open" of earlier versions, which named no revision) counts as
// absent. Writes are read-modify-write with the object's resourceVersion, retried on
// conflict, so replicas sharing the ConfigMap never lose each other's updates; every write
// also removes the expired entries. Reads go to the API server (pass a client without a
// cache) so that every replica sees the latest state.
type ConfigMap struct {
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	client client.Client
	ref    types.NamespacedName
	ttl    time.Duration
}

// NewConfigMap returns a store backed by the ConfigMap namespace/name; entries not written for
// ttl (zero: DefaultTTL) are dropped.
func NewConfigMap(c client.Client, namespace, name string, ttl time.Duration) *ConfigMap {
	return &ConfigMap{client: c, ref: types.NamespacedName{Namespace: namespace, Name: name}, ttl: ttlOr(ttl)}
}

func (s *ConfigMap) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Check reports whether the gate is open for key.Revision. The first check of a revision
// writes it as the one waiting, which drops an approval of any other revision; later checks
// of the same revision only read.
func (s *ConfigMap) Check(ctx context.Context, key Key) (bool, error) {
	var cm corev1.ConfigMap
	err := s.client.Get(ctx, s.ref, &cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return false, fmt.Errorf("get gate ConfigMap %s: %w", s.ref, err)
	}
	cur, ok := decodeEntry(cm.Data, key)
	if _, changed := checked(cur, ok, key, s.now(), s.ttl); !changed {
		return cur.Open, nil
	}
	err = s.update(ctx, key, func(data map[string]string, now time.Time) error {
		cur, ok := decodeEntry(data, key)
		next, _ := checked(cur, ok, key, now, s.ttl)
		return putEntry(data, key, next)
	})
	return false, err
}

// SetOpen opens or closes the gate for key.Revision, or for the revision waiting when it is
// empty, and returns the revision it changed.
func (s *ConfigMap) SetOpen(ctx context.Context, key Key, open bool) (string, error) {
	var cm corev1.ConfigMap
	err := s.client.Get(ctx, s.ref, &cm)
	if err != nil && !apierrors.IsNotFound(err) {
		return "", fmt.Errorf("get gate ConfigMap %s: %w", s.ref, err)
	}
	cur, ok := decodeEntry(cm.Data, key)
	if next, changed, err := nextOnSet(cur, ok, key, open, s.now(), s.ttl); err != nil || !changed {
		return next.Revision, err // nothing to write: a close with nothing open, or a refusal
	}
	var rev string
	err = s.update(ctx, key, func(data map[string]string, now time.Time) error {
		cur, ok := decodeEntry(data, key)
		next, _, err := nextOnSet(cur, ok, key, open, now, s.ttl)
		if err != nil {
			return err
		}
		rev = next.Revision
		return putEntry(data, key, next)
	})
	return rev, err
}

// update applies change to the ConfigMap's data, after removing the expired entries, and
// writes it, creating the ConfigMap when it is missing.
func (s *ConfigMap) update(ctx context.Context, key Key, change func(data map[string]string, now time.Time) error) error {
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(writeBackoff, retriable, func() error {
		var cm corev1.ConfigMap
		err := s.client.Get(ctx, s.ref, &cm)
		missing := apierrors.IsNotFound(err)
		if err != nil && !missing {
			return err
		}
		if cm.Data == nil {
			cm.Data = map[string]string{}
		}
		now := s.now()
		for k, v := range cm.Data {
			var e entry
			if json.Unmarshal([]byte(v), &e) != nil || e.expired(now, s.ttl) {
				delete(cm.Data, k)
			}
		}
		if err := change(cm.Data, now); err != nil {
			return err
		}
		if missing {
			cm.ObjectMeta = metav1.ObjectMeta{
				Namespace: s.ref.Namespace, Name: s.ref.Name,
				Labels: map[string]string{"app.kubernetes.io/managed-by": "siskin-loadtester"},
			}
			return s.client.Create(ctx, &cm)
		}
		// cm carries the resourceVersion it was read at: a concurrent write makes this a conflict.
		return s.client.Update(ctx, &cm)
	})
	if err != nil {
		return fmt.Errorf("write gate %s in ConfigMap %s: %w", key, s.ref, err)
	}
	return nil
}

func decodeEntry(data map[string]string, key Key) (entry, bool) {
	v, ok := data[key.String()]
	if !ok {
		return entry{}, false
	}
	var e entry
	if json.Unmarshal([]byte(v), &e) != nil {
		return entry{}, false
	}
	return e, true
}

func putEntry(data map[string]string, key Key, e entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	data[key.String()] = string(b)
	return nil
}
