package gate

import (
	"context"
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

// openValue marks an open gate in the ConfigMap; a closed gate has no entry.
const openValue = "open"

// ConfigMap keeps gates as entries of one ConfigMap, created on first use. Writes are
// read-modify-write with the object's resourceVersion, retried on conflict, so replicas
// sharing the ConfigMap never lose each other's updates. Reads go to the API server (pass a
// client without a cache) so that every replica sees the latest state.
type ConfigMap struct {
	client client.Client
	ref    types.NamespacedName
}

// NewConfigMap returns a store backed by the ConfigMap namespace/name.
func NewConfigMap(c client.Client, namespace, name string) *ConfigMap {
	return &ConfigMap{client: c, ref: types.NamespacedName{Namespace: namespace, Name: name}}
}

// IsOpen reports whether the gate is open; a missing ConfigMap means every gate is closed.
func (s *ConfigMap) IsOpen(ctx context.Context, key Key) (bool, error) {
	var cm corev1.ConfigMap
	if err := s.client.Get(ctx, s.ref, &cm); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("get gate ConfigMap %s: %w", s.ref, err)
	}
	return cm.Data[key.String()] == openValue, nil
}

// SetOpen opens or closes the gate.
func (s *ConfigMap) SetOpen(ctx context.Context, key Key, open bool) error {
	retriable := func(err error) bool { return apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err) }
	err := retry.OnError(writeBackoff, retriable, func() error {
		var cm corev1.ConfigMap
		err := s.client.Get(ctx, s.ref, &cm)
		switch {
		case apierrors.IsNotFound(err):
			if !open {
				return nil
			}
			cm = corev1.ConfigMap{
				ObjectMeta: metav1.ObjectMeta{
					Namespace: s.ref.Namespace, Name: s.ref.Name,
					Labels: map[string]string{"app.kubernetes.io/managed-by": "siskin-loadtester"},
				},
				Data: map[string]string{key.String(): openValue},
			}
			return s.client.Create(ctx, &cm)
		case err != nil:
			return err
		}
		if (cm.Data[key.String()] == openValue) == open {
			return nil
		}
		if open {
			if cm.Data == nil {
				cm.Data = map[string]string{}
			}
			cm.Data[key.String()] = openValue
		} else {
			delete(cm.Data, key.String())
		}
		// cm carries the resourceVersion it was read at: a concurrent write makes this a conflict.
		return s.client.Update(ctx, &cm)
	})
	if err != nil {
		return fmt.Errorf("set gate %s in ConfigMap %s: %w", key, s.ref, err)
	}
	return nil
}
