package loadtester

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/siskin-dev/siskin/loadtester/load"
)

// ErrForeignTarget is matched (errors.Is) by refusals of a load target outside the canary's
// namespace.
var ErrForeignTarget = errors.New("load target outside the canary's namespace")

// checkTarget refuses load aimed outside namespace ns, the payload's. The namespace of a
// payload is only a claim, so the allow-list (--namespace-regexp) alone would let a canary
// in an allowed namespace load any other: the target must be a service of that same
// namespace, "<svc>.<ns>", "<svc>.<ns>.svc" or "<svc>.<ns>.svc.<cluster domain>" (or a pod
// of a headless service under it), in the URL or gRPC address and in any Host or authority
// override. Other hosts (ingresses, IP addresses, bare service names that would resolve in
// the load tester's namespace) pass only when --allow-target-host matches them.
func (s *Server) checkTarget(spec load.Spec, ns string) error {
	var hosts []string
	switch {
	case spec.HTTP != nil:
		u, err := url.Parse(spec.HTTP.URL)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrForeignTarget, err)
		}
		hosts = append(hosts, u.Host)
		if h := spec.HTTP.Host; h != "" {
			hosts = append(hosts, h)
		} else if h := spec.HTTP.Header.Get("Host"); h != "" {
			hosts = append(hosts, h)
		}
	case spec.GRPC != nil:
		hosts = append(hosts, spec.GRPC.Address)
		if a := spec.GRPC.Authority; a != "" {
			hosts = append(hosts, a)
		}
	}
	for _, h := range hosts {
		if err := s.checkHost(h, ns); err != nil {
			return err
		}
	}
	return nil
}

func (s *Server) checkHost(hostport, ns string) error {
	host, port := hostport, ""
	if h, p, err := net.SplitHostPort(hostport); err == nil {
		host, port = h, p
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if (net.ParseIP(host) == nil && strings.Trim(host, "abcdefghijklmnopqrstuvwxyz0123456789.-") != "") ||
		strings.Trim(port, "0123456789") != "" {
		// A gRPC target may be a resolver URI ("unix:///…", "dns://server/…"): only plain
		// host names are read here, so that what is checked is what is dialled.
		return fmt.Errorf("%w: %q is not a host name or host:port", ErrForeignTarget, hostport)
	}
	if s.opts.TargetHosts != nil && (s.opts.TargetHosts.MatchString(host) || s.opts.TargetHosts.MatchString(strings.ToLower(hostport))) {
		return nil
	}
	got, ok := serviceNamespace(host)
	switch {
	case !ok:
		return fmt.Errorf("%w: host %q is not a service of namespace %s (<svc>.%s or <svc>.%s.svc...); other hosts need --allow-target-host",
			ErrForeignTarget, hostport, ns, ns, ns)
	case got != ns:
		return fmt.Errorf("%w: host %q is in namespace %s, not in the canary's namespace %s", ErrForeignTarget, hostport, got, ns)
	}
	return nil
}

// serviceNamespace returns the namespace that a cluster DNS name of a service (or of a pod
// behind a headless service) names.
func serviceNamespace(host string) (string, bool) {
	if net.ParseIP(host) != nil {
		return "", false
	}
	labels := strings.Split(host, ".")
	if len(labels) == 2 && labels[0] != "" {
		return labels[1], labels[1] != ""
	}
	for i := 2; i < len(labels); i++ {
		if labels[i] == "svc" {
			return labels[i-1], labels[i-1] != "" && labels[i-2] != ""
		}
	}
	return "", false
}
