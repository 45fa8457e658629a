package metrics

import (
	"cmp"
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// NewRelicAddress is the NerdGraph API a newrelic MetricTemplate without provider.address
// queries (New Relic's US region; the EU region's is https://api.eu.newrelic.com/graphql).
const NewRelicAddress = "https://api.newrelic.com/graphql"

// The keys of a provider Secret of newrelic, influxdb, graphite and dynatrace, as Flagger
// names them.
const (
	SecretNewRelicAccountID = "newrelic_account_id"
	// SecretNewRelicAPIKey is the User API key NerdGraph takes (Flagger's NerdGraph
	// provider's name); SecretNewRelicQueryKey, the key of Flagger's Insights provider, is
	// read in its place when it is absent and sent to NerdGraph as the API key.
	SecretNewRelicAPIKey   = "newrelic_api_key"
	SecretNewRelicQueryKey = "newrelic_query_key"
	SecretInfluxDBToken    = "token"
	SecretInfluxDBOrg      = "org"
	SecretGraphiteUsername = "username"
	SecretGraphitePassword = "password"
	SecretDynatraceToken   = "dynatrace_token"
)

// keyedConfig completes cfg, the provider configuration of a newrelic, influxdb, graphite or
// dynatrace MetricTemplate: the address is the template's own (newrelic alone has a default,
// the vendor's), and the credentials come from the Secret named beside it in the same
// template, so they only ever reach the address written in that object.
func (a *Analyzer) keyedConfig(ctx context.Context, t *siskinv1.MetricTemplate, cfg ProviderConfig) (ProviderConfig, error) {
	p := t.Spec.Provider
	where := fmt.Sprintf("MetricTemplate %s/%s", t.Namespace, t.Name)
	switch p.Type {
	case TypeNewRelic:
		if u, err := url.Parse(cfg.Address); err == nil && strings.HasPrefix(u.Hostname(), "insights-api.") {
			return ProviderConfig{}, fmt.Errorf("%s: provider.address %s is New Relic's Insights query API; the newrelic provider queries NerdGraph: set provider.address to %s (EU: https://api.eu.newrelic.com/graphql) or leave it empty",
				where, RedactURL(cfg.Address), NewRelicAddress)
		}
		cfg.Address = cmp.Or(cfg.Address, NewRelicAddress)
		if p.SecretRef == nil {
			return ProviderConfig{}, fmt.Errorf("%s: the newrelic provider needs a secretRef to a Secret with the keys %s and %s (or %s)",
				where, SecretNewRelicAccountID, SecretNewRelicAPIKey, SecretNewRelicQueryKey)
		}
		data, err := a.keyedSecret(ctx, t)
		if err != nil {
			return ProviderConfig{}, err
		}
		key := cmp.Or(data[SecretNewRelicAPIKey], data[SecretNewRelicQueryKey])
		switch {
		case data[SecretNewRelicAccountID] == "" && key == "":
			return ProviderConfig{}, fmt.Errorf("%s: Secret %s lacks the keys %s and %s (or %s) that the newrelic provider needs",
				where, p.SecretRef.Name, SecretNewRelicAccountID, SecretNewRelicAPIKey, SecretNewRelicQueryKey)
		case data[SecretNewRelicAccountID] == "":
			return ProviderConfig{}, fmt.Errorf("%s: Secret %s lacks the key %s that the newrelic provider needs", where, p.SecretRef.Name, SecretNewRelicAccountID)
		case key == "":
			return ProviderConfig{}, fmt.Errorf("%s: Secret %s lacks the key %s (or %s) that the newrelic provider needs: a New Relic User API key",
				where, p.SecretRef.Name, SecretNewRelicAPIKey, SecretNewRelicQueryKey)
		}
		if id, err := strconv.ParseInt(data[SecretNewRelicAccountID], 10, 64); err != nil || id <= 0 {
			// The account ID is no secret: naming it helps find the typo.
			return ProviderConfig{}, fmt.Errorf("%s: Secret %s key %s is %q, not a New Relic account ID (a positive integer)",
				where, p.SecretRef.Name, SecretNewRelicAccountID, data[SecretNewRelicAccountID])
		}
		cfg.AccountID, cfg.Token = data[SecretNewRelicAccountID], key
		return cfg, nil
	case TypeInfluxDB:
		return a.keyedWith(ctx, t, cfg, "the InfluxDB URL, for example http://influxdb.monitoring:8086", false,
			func(cfg *ProviderConfig, v []string) { cfg.Token, cfg.Org = v[0], v[1] }, SecretInfluxDBToken, SecretInfluxDBOrg)
	case TypeGraphite:
		return a.keyedWith(ctx, t, cfg, "the graphite-web URL, for example http://graphite.monitoring:8080", false,
			func(cfg *ProviderConfig, v []string) { cfg.Username, cfg.Password = v[0], v[1] }, SecretGraphiteUsername, SecretGraphitePassword)
	case TypeDynatrace:
		return a.keyedWith(ctx, t, cfg, "the Dynatrace environment URL, for example https://ENVIRONMENT.live.dynatrace.com", true,
			func(cfg *ProviderConfig, v []string) { cfg.Token = v[0] }, SecretDynatraceToken)
	}
	return ProviderConfig{}, fmt.Errorf("%s: provider type %q has no keyed configuration", where, p.Type)
}

// keyedWith is keyedConfig of a backend whose provider.address is required: what tells the
// user what to write there. The Secret, required when needSecret, must then hold every key,
// and set stores their values in cfg.
func (a *Analyzer) keyedWith(ctx context.Context, t *siskinv1.MetricTemplate, cfg ProviderConfig, what string, needSecret bool,
	set func(*ProviderConfig, []string), keys ...string) (ProviderConfig, error) {
	p := t.Spec.Provider
	where := fmt.Sprintf("MetricTemplate %s/%s", t.Namespace, t.Name)
	if cfg.Address == "" {
		return ProviderConfig{}, fmt.Errorf("%s: the %s provider needs provider.address, %s", where, p.Type, what)
	}
	if p.SecretRef == nil {
		if needSecret {
			return ProviderConfig{}, fmt.Errorf("%s: the %s provider needs a secretRef to a Secret with the key %s", where, p.Type, strings.Join(keys, " and "))
		}
		return cfg, nil
	}
	data, err := a.keyedSecret(ctx, t)
	if err != nil {
		return ProviderConfig{}, err
	}
	values := make([]string, len(keys))
	var missing []string
	for i, k := range keys {
		if values[i] = data[k]; values[i] == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		noun := "key"
		if len(missing) > 1 {
			noun = "keys"
		}
		return ProviderConfig{}, fmt.Errorf("%s: Secret %s lacks the %s %s that the %s provider needs", where, p.SecretRef.Name, noun, strings.Join(missing, " and "), p.Type)
	}
	set(&cfg, values)
	return cfg, nil
}

// keyedSecret reads the template's Secret, in the template's own namespace, and returns its
// values trimmed of surrounding space (a trailing newline is the usual slip of kubectl create
// secret --from-file).
func (a *Analyzer) keyedSecret(ctx context.Context, t *siskinv1.MetricTemplate) (map[string]string, error) {
	p := t.Spec.Provider
	if a.opts.Secrets == nil {
		return nil, fmt.Errorf("MetricTemplate %s/%s: no Secret reader configured", t.Namespace, t.Name)
	}
	data, err := a.opts.Secrets.SecretData(ctx, t.Namespace, p.SecretRef.Name)
	if err != nil {
		return nil, fmt.Errorf("MetricTemplate %s/%s: Secret %s: %w", t.Namespace, t.Name, p.SecretRef.Name, err)
	}
	out := make(map[string]string, len(data))
	for k, v := range data {
		out[k] = strings.TrimSpace(string(v))
	}
	return out, nil
}
