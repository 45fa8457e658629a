package cmdline

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// option describes one flag of a tool whose command line is translated.
type option struct {
	names []string // without dashes; hey spells its flags with one dash, ghz mostly with two
	// boolean flags take no separate value ("-h2", "--insecure", "--insecure=false").
	boolean bool
	set     func(v string) error
}

// parseFlags accepts "-name value", "-name=value", "--name value" and "--name=value" for the
// given options (as Go's flag package and kingpin both do), stops at "--", and returns the
// positional arguments in order. Unlike Go's flag package it keeps parsing flags after a
// positional argument, since hey and ghz lines in the wild put the URL anywhere.
func parseFlags(tool string, args []string, opts []option) ([]string, error) {
	index := map[string]*option{}
	for i := range opts {
		for _, n := range opts[i].names {
			index[n] = &opts[i]
		}
	}
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(pos, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, value, hasValue := strings.Cut(name, "=")
		opt, ok := index[name]
		if !ok {
			return nil, fmt.Errorf("%w: %s: unsupported flag %q", ErrSyntax, tool, a)
		}
		switch {
		case opt.boolean && !hasValue:
			value = "true"
		case !hasValue:
			if i+1 >= len(args) {
				return nil, fmt.Errorf("%w: %s: flag %q needs a value", ErrSyntax, tool, a)
			}
			i++
			value = args[i]
		}
		if err := opt.set(value); err != nil {
			return nil, fmt.Errorf("%w: %s: flag %q: %w", ErrSyntax, tool, a, err)
		}
	}
	return pos, nil
}

func intVar(p *int) func(string) error {
	return func(v string) error {
		n, err := strconv.Atoi(v)
		if err == nil && n < 0 {
			err = fmt.Errorf("%d is negative", n)
		}
		*p = n
		return err
	}
}

func floatVar(p *float64) func(string) error {
	return func(v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && f < 0 {
			err = fmt.Errorf("%g is negative", f)
		}
		*p = f
		return err
	}
}

func boolVar(p *bool) func(string) error {
	return func(v string) error {
		b, err := strconv.ParseBool(v)
		*p = b
		return err
	}
}

func stringVar(p *string) func(string) error {
	return func(v string) error { *p = v; return nil }
}

func durationVar(p *time.Duration) func(string) error {
	return func(v string) error {
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = fmt.Errorf("%s is negative", v)
		}
		*p = d
		return err
	}
}

// ignored accepts and drops a flag that has no meaning for the built-in generator, noting it.
func ignored(notes *[]string, why string) func(string) error {
	return func(string) error {
		*notes = append(*notes, why)
		return nil
	}
}

func unsupported(why string) func(string) error {
	return func(string) error { return fmt.Errorf("not supported: %s", why) }
}
