package metrics

import "testing"

func TestLineComment(t *testing.T) {
	for _, tc := range []struct {
		query, quotes string
		markers       []string
		want          string
	}{
		{query: `from(bucket: "a") // the bucket |> range(start: -1m)`, quotes: `"`, markers: []string{"//"}, want: "//"},
		{query: `from(bucket: "a") |> filter(fn: (r) => r.url == "http://x")`, quotes: `"`, markers: []string{"//"}},
		{query: `from(bucket: "a \" // b") |> last()`, quotes: `"`, markers: []string{"//"}},
		{query: `SELECT count(*) FROM Transaction -- errors only WHERE error IS true`, quotes: `'`, markers: []string{"//", "--"}, want: "--"},
		{query: `SELECT count(*) FROM Transaction WHERE name = 'a--b' AND url = 'http://x'`, quotes: `'`, markers: []string{"//", "--"}},
	} {
		got, ok := LineComment(tc.query, tc.quotes, tc.markers...)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("LineComment(%q) = %q %t, want %q", tc.query, got, ok, tc.want)
		}
	}
}
