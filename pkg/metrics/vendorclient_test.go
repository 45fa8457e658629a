package metrics_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/siskin-dev/siskin/pkg/metrics"
)

// nilClient is a Provider whose constructor failed.
type nilClient struct{}

func (*nilClient) Query(context.Context, string) (metrics.Sample, error) {
	return metrics.Sample{}, nil
}

func TestPoolOfHandsOutNoNilClient(t *testing.T) {
	refused := errors.New("refused")
	pool := metrics.PoolOf(metrics.BackendOptions{}, func(metrics.ProviderConfig, metrics.BackendOptions) (*nilClient, error) {
		return nil, refused
	})
	p, err := pool.Provider(metrics.ProviderConfig{Type: "x"})
	if !errors.Is(err, refused) || p != nil {
		t.Errorf("Provider = %v, %v; want no Provider and the constructor's error", p, err)
	}
	if pool.Len() != 0 {
		t.Errorf("the pool keeps %d clients of a failed constructor", pool.Len())
	}
}

func TestNewVendor(t *testing.T) {
	for _, tc := range []struct {
		cfg  metrics.ProviderConfig
		def  string
		want string
	}{
		{cfg: metrics.ProviderConfig{Type: "graphite", Address: "http://g"}, want: `provider type "graphite" is not influxdb`},
		{cfg: metrics.ProviderConfig{Type: "influxdb", Address: "influxdb:8086"}, want: "influxdb address influxdb:8086 is not an http or https URL"},
		{cfg: metrics.ProviderConfig{Type: "influxdb"}, want: "influxdb address  is not an http or https URL"},
		{cfg: metrics.ProviderConfig{Type: "influxdb", Address: "ftp://user:pw@influxdb"}, want: "influxdb address ftp://xxxxx@influxdb is not an http or https URL"},
	} {
		if _, err := metrics.NewVendor(tc.cfg, "influxdb", tc.def, metrics.BackendOptions{}); err == nil || err.Error() != tc.want {
			t.Errorf("NewVendor(%s) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
	v, err := metrics.NewVendor(metrics.ProviderConfig{Type: "newrelic"}, "newrelic", "https://api.newrelic.com/graphql/", metrics.BackendOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer v.CloseIdleConnections()
	if v.URL != "https://api.newrelic.com/graphql/" || v.Base() != "https://api.newrelic.com/graphql" || v.Timeout != metrics.DefaultQueryTimeout || v.HTTP == nil {
		t.Errorf("vendor %+v: want the default address and the default options", v)
	}
}

func TestSpan(t *testing.T) {
	at := time.Date(2026, 12, 1, 16, 0, 0, 0, time.UTC)
	ctx := metrics.WithWindow(metrics.WithEvaluationTime(context.Background(), at), 2*time.Minute)
	if from, to := metrics.Span(ctx, nil); !to.Equal(at) || !from.Equal(at.Add(-20*time.Minute)) {
		t.Errorf("Span = %s, %s; want the 20 minutes before %s", from, to, at)
	}
	clock := func() time.Time { return at }
	if from, to := metrics.Span(context.Background(), clock); !to.Equal(at) || !from.Equal(at.Add(-metrics.LookbackFactor*metrics.DefaultInterval)) {
		t.Errorf("Span without evaluation time = %s, %s", from, to)
	}
}

func TestSeveralSeries(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	err := metrics.SeveralSeries(len(names), func(i int) string { return names[i] }, "for example with sum")
	if !errors.Is(err, metrics.ErrResultShape) || err.Error() != "query result is not a single value: 5 series, want 1 (aggregate them, for example with sum): a, b, c, ..." {
		t.Errorf("SeveralSeries = %v", err)
	}
}
