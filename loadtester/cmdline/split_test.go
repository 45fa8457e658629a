package cmdline

import (
	"errors"
	"slices"
	"testing"
)

func TestSplit(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"  kubectl   get pods ", []string{"kubectl", "get", "pods"}},
		{`helm test podinfo --set 'a=b c'`, []string{"helm", "test", "podinfo", "--set", "a=b c"}},
		{`hey -H "X-A: 1" -H 'X-B: "2"' url`, []string{"hey", "-H", "X-A: 1", "-H", `X-B: "2"`, "url"}},
		{`echo "a \"q\" \n $x" it\'s`, []string{"echo", `a "q" \n $x`, "it's"}},
		{`a '' "" b`, []string{"a", "", "", "b"}},
		{"a\\\nb c", []string{"ab", "c"}},
		{`x|y > z`, []string{"x|y", ">", "z"}},
		{"tab\tand\nnewline", []string{"tab", "and", "newline"}},
		{`con"cat"'ed'`, []string{"concated"}},
	}
	for _, c := range cases {
		got, err := Split(c.in)
		if err != nil {
			t.Errorf("Split(%q): %v", c.in, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("Split(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSplitRejectsUnbalancedInput(t *testing.T) {
	for _, in := range []string{`echo 'open`, `echo "open`, `echo trailing\`} {
		if _, err := Split(in); !errors.Is(err, ErrSyntax) {
			t.Errorf("Split(%q) err = %v, want ErrSyntax", in, err)
		}
	}
}
