package metrics

import (
	"fmt"
	"strings"
	"testing"
)

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://prometheus:9090", "http://prometheus:9090"},
		{"https://thanos.example:9091/prefix/", "https://thanos.example:9091/prefix/"},
		{"http://admin:hunter2@prometheus:9090", "http://xxxxx@prometheus:9090"},
		{"https://ghp_token1234@prometheus:9090/", "https://xxxxx@prometheus:9090/"},
		{"http://prom:9090/?token=s3cret&org=a", "http://prom:9090/?token=xxxxx&org=xxxxx"},
		{"http://prom/api/v1/query?query=up&time=1&api_key=k", "http://prom/api/v1/query?query=up&time=1&api_key=xxxxx"},
		{"http://prom/#access_token=s3cret", "http://prom/#xxxxx"},
		{"admin:hunter2@prometheus:9090", "xxxxx@prometheus:9090"},
		{"http://admin:hun#ter2@prometheus:9090", "http://xxxxx@prometheus:9090"},
		{"http://admin:p%zzw@prometheus/?token=s3cret", "http://xxxxx@prometheus/?xxxxx"},
		{"", ""},
	} {
		if got := RedactURL(tc.in); got != tc.want {
			t.Errorf("RedactURL(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestProviderConfigStringRedactsTheAddress(t *testing.T) {
	cfg := ProviderConfig{Address: "http://admin:hunter2@prom:9090/?token=s3cret"}
	for _, s := range []string{cfg.String(), fmt.Sprint(cfg), fmt.Sprintf("%#v", cfg)} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "admin") || strings.Contains(s, "s3cret") {
			t.Errorf("%q shows the address's secrets", s)
		}
	}
}
