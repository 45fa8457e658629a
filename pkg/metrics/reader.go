package metrics

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// TemplateReader returns a MetricTemplate. The controller implements it from its informer
// cache, so a check costs no API call.
type TemplateReader interface {
	MetricTemplate(ctx context.Context, namespace, name string) (*siskinv1.MetricTemplate, error)
}

// SecretReader returns the data of a Secret. The controller implements it from its informer
// cache, so credentials are not read from the API server at every check.
type SecretReader interface {
	SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error)
}

// CacheReader implements TemplateReader and SecretReader with a controller-runtime reader,
// normally the manager's cache (which then watches Secrets).
type CacheReader struct {
	Reader client.Reader
}

// MetricTemplate gets the MetricTemplate namespace/name.
func (r CacheReader) MetricTemplate(ctx context.Context, namespace, name string) (*siskinv1.MetricTemplate, error) {
	t := &siskinv1.MetricTemplate{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, t); err != nil {
		return nil, err // the Analyzer names the template
	}
	return t, nil
}

// SecretData gets the data of the Secret namespace/name.
func (r CacheReader) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s := &corev1.Secret{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, s); err != nil {
		return nil, err // the Analyzer names the Secret
	}
	return s.Data, nil
}
