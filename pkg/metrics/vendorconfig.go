package metrics

import (
	"cmp"
	"context"
	"fmt"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// StackdriverAddress is the Cloud Monitoring API a stackdriver MetricTemplate without
// provider.address queries.
const StackdriverAddress = "https://monitoring.googleapis.com"

// The keys of a provider Secret of stackdriver and splunk, as Flagger names them.
const (
	SecretGoogleProject           = "project"
	SecretGoogleServiceAccountKey = "serviceAccountKey"
	SecretSignalFxToken           = "sf_token_key"
)

// configOf completes cfg, the provider configuration of a stackdriver, splunk or keptn
// MetricTemplate, by the rules of vendorConfig: credentials only go to the address written
// beside them, and the controller's own credentials only to the vendor.
func (a *Analyzer) configOf(ctx context.Context, t *siskinv1.MetricTemplate, cfg ProviderConfig) (ProviderConfig, error) {
	p := t.Spec.Provider
	where := fmt.Sprintf("MetricTemplate %s/%s", t.Namespace, t.Name)
	switch p.Type {
	case TypeStackdriver:
		if p.SecretRef == nil {
			return ProviderConfig{}, fmt.Errorf("%s: the stackdriver provider needs a secretRef to a Secret with the key %s (and optionally %s)", where, SecretGoogleProject, SecretGoogleServiceAccountKey)
		}
		data, err := a.secretKeys(ctx, t, []string{SecretGoogleProject}, SecretGoogleServiceAccountKey)
		if err != nil {
			return ProviderConfig{}, err
		}
		if cfg.Address != "" && data[SecretGoogleServiceAccountKey] == "" {
			// Without a key the controller's own Google credentials would be used: they go to
			// Google only, never to an endpoint a template author chose.
			return ProviderConfig{}, fmt.Errorf("%s: a stackdriver provider.address needs the key %s in Secret %s; the controller's own Google credentials only go to Google", where, SecretGoogleServiceAccountKey, p.SecretRef.Name)
		}
		cfg.Address = cmp.Or(cfg.Address, StackdriverAddress)
		cfg.Project, cfg.ServiceAccountKey = data[SecretGoogleProject], data[SecretGoogleServiceAccountKey]
	case TypeSplunk:
		if cfg.Address == "" {
			return ProviderConfig{}, fmt.Errorf("%s: the splunk provider needs provider.address, the API or stream endpoint of the realm (https://api.REALM.signalfx.com)", where)
		}
		if p.SecretRef == nil {
			return ProviderConfig{}, fmt.Errorf("%s: the splunk provider needs a secretRef to a Secret with the key %s", where, SecretSignalFxToken)
		}
		data, err := a.secretKeys(ctx, t, []string{SecretSignalFxToken})
		if err != nil {
			return ProviderConfig{}, err
		}
		cfg.SignalFxToken = data[SecretSignalFxToken]
	case TypeKeptn:
		if cfg.Address != "" || p.SecretRef != nil {
			return ProviderConfig{}, fmt.Errorf("%s: the keptn provider takes no provider.address or secretRef: it reads Keptn's objects through the controller's Kubernetes API", where)
		}
		if !a.opts.AllowCrossNamespaceRefs {
			// A template reads only its own namespace's Keptn objects, as a templateRef reads
			// only its own namespace's templates.
			cfg.Namespace = t.Namespace
		}
	}
	return cfg, nil
}

// secretKeys reads the template's Secret and returns the values of the required and optional
// keys, trimmed of surrounding space; a required key that is missing or empty is an error.
func (a *Analyzer) secretKeys(ctx context.Context, t *siskinv1.MetricTemplate, required []string, optional ...string) (map[string]string, error) {
	p := t.Spec.Provider
	where := fmt.Sprintf("MetricTemplate %s/%s", t.Namespace, t.Name)
	if a.opts.Secrets == nil {
		return nil, fmt.Errorf("%s: no Secret reader configured", where)
	}
	data, err := a.opts.Secrets.SecretData(ctx, t.Namespace, p.SecretRef.Name)
	if err != nil {
		return nil, fmt.Errorf("%s: Secret %s: %w", where, p.SecretRef.Name, err)
	}
	values := map[string]string{}
	var missing []string
	for _, k := range required {
		values[k] = strings.TrimSpace(string(data[k]))
		if values[k] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: Secret %s lacks the key %s that the %s provider needs", where, p.SecretRef.Name, strings.Join(missing, " and "), p.Type)
	}
	for _, k := range optional {
		values[k] = strings.TrimSpace(string(data[k]))
	}
	return values, nil
}
