package framework

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// App is a Deployment of the local environment's podinfo-like test app.
type App struct {
	Namespace string
	// Name is the Deployment's name and its pods' app label.
	Name     string
	Replicas int32
	// Port is the container port; default 9898.
	Port int32
	// Env is the container's environment: VERSION, ERROR_RATE, LATENCY_MS.
	Env map[string]string
}

// Deployment returns the app's Deployment.
func (a App) Deployment() *appsv1.Deployment {
	port := a.Port
	if port == 0 {
		port = 9898
	}
	labels := map[string]string{"app": a.Name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: a.Name, Namespace: a.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(a.Replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name:  "podinfod",
						Image: "ghcr.io/stefanprodan/podinfo:6.0.0",
						Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: port, Protocol: corev1.ProtocolTCP}},
						Env:   envVars(a.Env),
					}},
				},
			},
		},
	}
}

func envVars(m map[string]string) []corev1.EnvVar {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]corev1.EnvVar, 0, len(keys))
	for _, k := range keys {
		out = append(out, corev1.EnvVar{Name: k, Value: m[k]})
	}
	return out
}

// CreateNamespace creates a namespace; one that exists is fine.
func (e *Env) CreateNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}

// DeleteNamespace deletes a namespace without waiting.
func (e *Env) DeleteNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := e.Client.Delete(ctx, ns); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", name, err)
	}
	return nil
}

// CreateApp creates the app's Deployment.
func (e *Env) CreateApp(ctx context.Context, a App) error {
	if err := e.Client.Create(ctx, a.Deployment()); err != nil {
		return fmt.Errorf("create Deployment %s/%s: %w", a.Namespace, a.Name, err)
	}
	return nil
}

// SetEnv releases a new revision of a Deployment by changing its first container's
// environment, as `kubectl set env` does: each key is set to its value, or removed when the
// value is empty.
func (e *Env) SetEnv(ctx context.Context, namespace, name string, env map[string]string) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		var d appsv1.Deployment
		if err := e.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &d); err != nil {
			return err
		}
		cur := map[string]string{}
		for _, v := range d.Spec.Template.Spec.Containers[0].Env {
			cur[v.Name] = v.Value
		}
		for k, v := range env {
			if v == "" {
				delete(cur, k)
			} else {
				cur[k] = v
			}
		}
		d.Spec.Template.Spec.Containers[0].Env = envVars(cur)
		return e.Client.Update(ctx, &d)
	})
	if err != nil {
		return fmt.Errorf("set env of Deployment %s/%s: %w", namespace, name, err)
	}
	return nil
}

// DeploymentEnv returns the environment of a Deployment's first container.
func (e *Env) DeploymentEnv(ctx context.Context, namespace, name string) (map[string]string, error) {
	var d appsv1.Deployment
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &d); err != nil {
		return nil, fmt.Errorf("get Deployment %s/%s: %w", namespace, name, err)
	}
	out := map[string]string{}
	for _, v := range d.Spec.Template.Spec.Containers[0].Env {
		out[v.Name] = v.Value
	}
	return out, nil
}

// GetCanary reads a Canary.
func (e *Env) GetCanary(ctx context.Context, namespace, name string) (*siskinv1.Canary, error) {
	var c siskinv1.Canary
	if err := e.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// Annotate sets an annotation on a Canary (the manual controls siskin.dev/promote, abort,
// retry, pause and resume take any new value).
func (e *Env) Annotate(ctx context.Context, namespace, name, key, value string) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, err := e.GetCanary(ctx, namespace, name)
		if err != nil {
			return err
		}
		if c.Annotations == nil {
			c.Annotations = map[string]string{}
		}
		c.Annotations[key] = value
		return e.Client.Update(ctx, c)
	})
}

// LastCheck returns the named entry of status.lastChecks, or nil.
func LastCheck(c *siskinv1.Canary, name string) *siskinv1.CheckResult {
	for i := range c.Status.LastChecks {
		if c.Status.LastChecks[i].Name == name {
			return &c.Status.LastChecks[i]
		}
	}
	return nil
}

// Condition returns the Canary's condition of a type, or nil.
func Condition(c *siskinv1.Canary, typ string) *metav1.Condition {
	for i := range c.Status.Conditions {
		if c.Status.Conditions[i].Type == typ {
			return &c.Status.Conditions[i]
		}
	}
	return nil
}
