package shard

import (
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	hashed := Hash("team-a", "podinfo", 3)
	cases := []struct {
		name    string
		labels  map[string]string
		n       int
		want    int
		invalid bool
	}{
		{name: "a Canary without the label is in its hashed shard", n: 3, want: hashed},
		{name: "the label names the shard", labels: map[string]string{Label: "2"}, n: 3, want: 2},
		{name: "shard zero can be named", labels: map[string]string{Label: "0"}, n: 3, want: 0},
		{name: "a shard past the count is an error and the hashed shard", labels: map[string]string{Label: "3"}, n: 3, want: hashed, invalid: true},
		{name: "a negative shard is an error", labels: map[string]string{Label: "-1"}, n: 3, want: hashed, invalid: true},
		{name: "a leading zero is an error", labels: map[string]string{Label: "01"}, n: 3, want: hashed, invalid: true},
		{name: "a word is an error", labels: map[string]string{Label: "east"}, n: 3, want: hashed, invalid: true},
		{name: "an empty value is an error", labels: map[string]string{Label: ""}, n: 3, want: hashed, invalid: true},
		{name: "unsharded, everything is shard zero and the label is not read", labels: map[string]string{Label: "east"}, n: 1, want: 0},
		{name: "no shard count is unsharded", labels: map[string]string{Label: "7"}, n: 0, want: 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Of("team-a", "podinfo", tc.labels, tc.n)
			if got != tc.want {
				t.Errorf("shard = %d, want %d", got, tc.want)
			}
			if tc.invalid != errors.Is(err, ErrInvalidLabel) {
				t.Errorf("error = %v, want invalid %v", err, tc.invalid)
			}
		})
	}
}

func TestHashIsStable(t *testing.T) {
	// Moving every Canary to another replica on an upgrade would be a fleet-wide hand-over:
	// these values must not change.
	for _, tc := range []struct {
		ns, name string
		n, want  int
	}{
		{"shards", "app-0000", 3, 1},
		{"shards", "app-0001", 3, 2},
		{"shards", "app-0002", 3, 2},
		{"team-a", "podinfo", 16, 2},
	} {
		if got := Hash(tc.ns, tc.name, tc.n); got != tc.want {
			t.Errorf("Hash(%s, %s, %d) = %d, want %d", tc.ns, tc.name, tc.n, got, tc.want)
		}
	}
}

func TestHashSpreadsAFleet(t *testing.T) {
	counts := make([]int, 3)
	for i := range 300 {
		counts[Hash("shards", fmt.Sprintf("app-%04d", i), 3)]++
	}
	for s, c := range counts {
		if c < 70 || c > 130 {
			t.Errorf("shard %d has %d of 300 Canaries (counts %v)", s, c, counts)
		}
	}
}

func TestOrdinal(t *testing.T) {
	for _, tc := range []struct {
		pod  string
		want int
		ok   bool
	}{
		{"siskin-0", 0, true},
		{"siskin-12", 12, true},
		{"my-release-siskin-2", 2, true},
		{"siskin-7d9f8c-x2x4q", 0, false},
		{"siskin-", 0, false},
		{"siskin", 0, false},
		{"siskin-01", 0, false},
	} {
		got, ok := Ordinal(tc.pod)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Ordinal(%q) = %d, %v; want %d, %v", tc.pod, got, ok, tc.want, tc.ok)
		}
	}
}

func TestLeaseName(t *testing.T) {
	if got := LeaseName("siskin-leader-election", 2); got != "siskin-leader-election-shard-2" {
		t.Errorf("LeaseName = %q", got)
	}
}
