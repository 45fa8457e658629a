package cmdline

import (
	"errors"
	"slices"
	"testing"
	"unicode/utf8"
)

var lineSeeds = []string{
	"", "  kubectl   get pods ", `helm test podinfo --set 'a=b c'`, `hey -H "X-A: 1" -H 'X-B: "2"' url`,
	`echo "a \"q\" \n $x" it\'s`, `a '' "" b`, "a\\\nb c", `x|y > z`, "tab\tand\nnewline", `con"cat"'ed'`,
	`echo 'open`, `echo trailing\`, "hey -z 1m -q 10 -c 2 http://podinfo-canary.test:9898/",
	"hey -c 9223372036854775807 -z 1m http://x/", "hey -q 1e308 -c 10 -z 1s http://x/", "hey -q NaN -n 1 -c 1 http://x/",
	`ghz --insecure --call grpc.health.v1.Health/Check -d '{"service":"p"}' -z 30s -c 4 --rps 40 x:1`,
	"ghz --call a.B/C -m '[1]' x:1", "grpc_health_probe -addr=podinfo.test:9999 -rpc-header 'X-A: b'",
	"kubectl get pods -n test --server=https://evil", "\xff\xfe 'a\xffb'",
}

// FuzzSplit: Split never panics, and what it returns, quoted with Join, splits back to itself.
func FuzzSplit(f *testing.F) {
	for _, s := range lineSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args, err := Split(line)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("Split(%q) error %v does not wrap ErrSyntax", line, err)
			}
			return
		}
		for _, a := range args {
			if !utf8.ValidString(a) {
				t.Fatalf("Split(%q) returned invalid UTF-8 %q", line, a)
			}
		}
		joined := Join(args)
		again, err := Split(joined)
		if err != nil || !slices.Equal(again, args) {
			t.Fatalf("Split(%q) = %q; Join = %q splits to %q (%v)", line, args, joined, again, err)
		}
	})
}

// FuzzParse: Parse never panics, classifies every line, and a translated line has exactly one
// target and no negative shape.
func FuzzParse(f *testing.F) {
	for _, s := range lineSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		c, err := Parse(line)
		if err != nil {
			if !errors.Is(err, ErrSyntax) && !errors.Is(err, ErrNotLoad) {
				t.Fatalf("Parse(%q) error %v is neither ErrSyntax nor ErrNotLoad", line, err)
			}
			return
		}
		s := c.Spec
		if (s.HTTP == nil) == (s.GRPC == nil) {
			t.Fatalf("Parse(%q) spec has %v HTTP and %v gRPC targets", line, s.HTTP != nil, s.GRPC != nil)
		}
		if s.Concurrency < 1 || s.Rate < 0 || s.Duration < 0 || s.Requests < 0 {
			t.Fatalf("Parse(%q) spec shape %+v", line, s)
		}
		_, _ = s.Normalize() // must not panic, whatever it decides
	})
}
