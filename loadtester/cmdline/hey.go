package cmdline

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/siskin-dev/siskin/loadtester/load"
)

// hey's own defaults, kept so that a line behaves as it did under hey.
const (
	heyRequests    = 200
	heyConcurrency = 50
	heyTimeoutSecs = 20
	heyContentType = "text/html"
)

// heyFlags holds a hey command line's flags as parsed.
type heyFlags struct {
	n, c, timeout                         int
	q                                     float64
	z                                     time.Duration
	method, body, accept, ctype, auth     string
	host                                  string
	h2, noKeepAlive, noCompression, noRed bool
	header                                http.Header
	notes                                 []string
}

func (f *heyFlags) options() []option {
	return []option{
		{names: []string{"n"}, set: intVar(&f.n)},
		{names: []string{"c"}, set: intVar(&f.c)},
		{names: []string{"q"}, set: floatVar(&f.q)},
		{names: []string{"z"}, set: durationVar(&f.z)},
		{names: []string{"t"}, set: intVar(&f.timeout)},
		{names: []string{"m"}, set: stringVar(&f.method)},
		{names: []string{"d"}, set: stringVar(&f.body)},
		{names: []string{"A"}, set: stringVar(&f.accept)},
		{names: []string{"T"}, set: stringVar(&f.ctype)},
		{names: []string{"a"}, set: stringVar(&f.auth)},
		{names: []string{"host"}, set: stringVar(&f.host)},
		{names: []string{"H"}, set: func(v string) error {
			k, val, ok := strings.Cut(v, ":")
			if !ok || strings.TrimSpace(k) == "" {
				return fmt.Errorf("header %q is not \"Name: value\"", v)
			}
			f.header.Add(strings.TrimSpace(k), strings.TrimSpace(val))
			return nil
		}},
		{names: []string{"h2"}, boolean: true, set: boolVar(&f.h2)},
		{names: []string{"disable-keepalive"}, boolean: true, set: boolVar(&f.noKeepAlive)},
		{names: []string{"disable-compression"}, boolean: true, set: boolVar(&f.noCompression)},
		{names: []string{"disable-redirects"}, boolean: true, set: boolVar(&f.noRed)},
		{names: []string{"cpus"}, set: ignored(&f.notes, "-cpus ignored: the generator shares the load tester's CPUs")},
		{names: []string{"o"}, set: ignored(&f.notes, "-o ignored: results are returned as JSON")},
		{names: []string{"D"}, set: unsupported("request bodies from files; use -d")},
		{names: []string{"x"}, set: unsupported("HTTP proxies")},
	}
}

// parseHey translates a hey command line (args[0] is the program name). -q is per worker in
// hey, so the total rate is q times c; -z wins over -n, as in hey.
func parseHey(args []string) (load.Spec, error) {
	f := &heyFlags{
		n: heyRequests, c: heyConcurrency, timeout: heyTimeoutSecs,
		method: http.MethodGet, ctype: heyContentType, header: http.Header{},
	}
	pos, err := parseFlags("hey", args[1:], f.options())
	if err != nil {
		return load.Spec{}, err
	}
	switch {
	case len(pos) != 1:
		return load.Spec{}, fmt.Errorf("%w: hey: want exactly one URL, got %d arguments", ErrSyntax, len(pos))
	case f.c < 1:
		return load.Spec{}, fmt.Errorf("%w: hey: -c must be at least 1", ErrSyntax)
	case f.z == 0 && f.n < f.c:
		return load.Spec{}, fmt.Errorf("%w: hey: -n cannot be less than -c", ErrSyntax)
	case f.auth != "" && !strings.Contains(f.auth, ":"):
		return load.Spec{}, fmt.Errorf("%w: hey: -a must be user:password", ErrSyntax)
	}
	return f.spec(pos[0]), nil
}

func (f *heyFlags) spec(url string) load.Spec {
	if f.header.Get("Content-Type") == "" { // an explicit -H wins over -T, as in hey
		f.header.Set("Content-Type", f.ctype)
	}
	if f.accept != "" {
		f.header.Set("Accept", f.accept)
	}
	if f.auth != "" {
		f.header.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(f.auth)))
	}
	t := &load.HTTPTarget{
		URL: url, Method: strings.ToUpper(f.method), Header: f.header, Host: f.host,
		HTTP2: f.h2 && strings.HasPrefix(url, "https:"), DisableKeepAlives: f.noKeepAlive,
		DisableCompression: f.noCompression, DisableRedirects: f.noRed,
	}
	if f.body != "" {
		t.Body = []byte(f.body)
	}
	spec := load.Spec{
		HTTP: t, Rate: f.q * float64(f.c), Concurrency: f.c, Duration: f.z,
		Timeout: time.Duration(f.timeout) * time.Second, Notes: f.notes,
	}
	if f.z == 0 {
		spec.Requests = int64(f.n)
	}
	if f.timeout == 0 {
		spec.Timeout = load.DefaultTimeout
		spec.Notes = append(spec.Notes, fmt.Sprintf("-t 0 (no timeout) replaced by %s", load.DefaultTimeout))
	}
	if f.h2 && !t.HTTP2 {
		// hey negotiates HTTP/2 only over TLS; prior-knowledge h2c would break plain HTTP/1 apps.
		spec.Notes = append(spec.Notes, `-h2 ignored for an http:// URL, as hey does; use a load task with http2: "true" for h2c`)
	}
	return spec
}
