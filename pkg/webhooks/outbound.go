package webhooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
)

// OutboundPolicy decides which addresses webhooks may be called at. Any Canary author chooses
// a webhook's URL, so without a policy the controller would POST, with headers from a Secret,
// wherever it is told, including the cloud metadata endpoint, and put the answer in status.
//
// The policy is checked on the IP address actually dialled, after DNS resolution, so a name
// that resolves to a refused address is refused too; redirects are never followed.
//
// By default it refuses link-local addresses (169.254.0.0/16, fe80::/10), the cloud metadata
// addresses (169.254.169.254, 169.254.170.2, fd00:ec2::254, 100.100.100.200) and unspecified
// addresses (0.0.0.0/8, ::); everything else, loopback included, is allowed. Allow and Deny
// add rules. The most specific rule that contains an address decides (the longest prefix);
// between rules of equal length, a listed Deny wins over a listed Allow, which wins over a
// default rule. So allowing 169.254.0.0/16 opens link-local addresses but not the metadata
// endpoint inside it, which must be listed itself (169.254.169.254) to be reachable.
type OutboundPolicy struct {
	// Allow lists ranges that may be called although a less specific rule refuses them.
	Allow []netip.Prefix
	// Deny lists ranges refused in addition to the default ones.
	Deny []netip.Prefix
}

// ErrRefused is matched (errors.Is) by every error of a call the outbound policy refused.
var ErrRefused = errors.New("webhook address is refused by the outbound policy")

// RefusedError is the error of a call whose address the outbound policy refused.
type RefusedError struct {
	// Addr is the refused address.
	Addr netip.Addr
	// Reason says which rule refused it: "link-local", "cloud metadata", "unspecified" or the
	// --webhook-deny-cidrs entry.
	Reason string
}

// Error names the address, the rule and the flag that would allow it.
func (e *RefusedError) Error() string {
	return fmt.Sprintf("webhook address %s is refused by the outbound policy (%s); see --webhook-allow-cidrs", e.Addr, e.Reason)
}

// Is makes errors.Is(err, ErrRefused) true.
func (e *RefusedError) Is(target error) bool { return target == ErrRefused }

type outboundRule struct {
	prefix netip.Prefix
	allow  bool
	reason string
	// rank breaks ties between rules of equal prefix length: a listed allow beats a default
	// deny, and a listed deny beats both.
	rank int
}

const (
	rankDefault = iota
	rankAllow
	rankDeny
)

var defaultOutboundRules = []outboundRule{
	{prefix: netip.MustParsePrefix("169.254.0.0/16"), reason: "link-local"},
	{prefix: netip.MustParsePrefix("fe80::/10"), reason: "link-local"},
	// AWS, GCP, Azure, OpenStack, Oracle and others serve instance metadata and credentials
	// here; ECS serves task credentials at .170.2; Alibaba uses 100.100.100.200.
	{prefix: netip.MustParsePrefix("169.254.169.254/32"), reason: "cloud metadata"},
	{prefix: netip.MustParsePrefix("169.254.170.2/32"), reason: "cloud metadata"},
	{prefix: netip.MustParsePrefix("fd00:ec2::254/128"), reason: "cloud metadata"},
	{prefix: netip.MustParsePrefix("100.100.100.200/32"), reason: "cloud metadata"},
	// The well-known NAT64 prefix would reach IPv4 link-local addresses from IPv6.
	{prefix: netip.MustParsePrefix("64:ff9b::a9fe:0/112"), reason: "link-local"},
	// Linux dials 0.0.0.0 and :: as the local host.
	{prefix: netip.MustParsePrefix("0.0.0.0/8"), reason: "unspecified"},
	{prefix: netip.MustParsePrefix("::/128"), reason: "unspecified"},
}

// Check returns a *RefusedError when the policy refuses addr, nil when it may be called.
func (p OutboundPolicy) Check(addr netip.Addr) error {
	// A zoned address matches no prefix, and an IPv4-mapped one must meet the IPv4 rules.
	addr = addr.WithZone("").Unmap()
	var best outboundRule
	found := false
	consider := func(r outboundRule) {
		if !r.prefix.Contains(addr) {
			return
		}
		if !found || r.prefix.Bits() > best.prefix.Bits() || (r.prefix.Bits() == best.prefix.Bits() && r.rank > best.rank) {
			best, found = r, true
		}
	}
	for _, r := range defaultOutboundRules {
		consider(r)
	}
	for _, pfx := range p.Deny {
		consider(outboundRule{prefix: normalizePrefix(pfx), reason: "listed in --webhook-deny-cidrs as " + pfx.String(), rank: rankDeny})
	}
	for _, pfx := range p.Allow {
		consider(outboundRule{prefix: normalizePrefix(pfx), allow: true, rank: rankAllow})
	}
	if !found || best.allow {
		return nil
	}
	return &RefusedError{Addr: addr, Reason: best.reason}
}

// normalizePrefix masks pfx and turns an IPv4-mapped IPv6 prefix into its IPv4 form, as
// Check does with addresses.
func normalizePrefix(pfx netip.Prefix) netip.Prefix {
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		return netip.PrefixFrom(a.Unmap(), pfx.Bits()-96).Masked()
	}
	return pfx.Masked()
}

// ParseCIDRs parses a comma-separated list of CIDR ranges, as the --webhook-allow-cidrs and
// --webhook-deny-cidrs flags take them. A bare address is a range of one address; empty
// entries are ignored.
func ParseCIDRs(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if strings.Contains(part, "/") {
			pfx, err := netip.ParsePrefix(part)
			if err != nil {
				return nil, fmt.Errorf("parse CIDR %q: %w", part, err)
			}
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(part)
		if err != nil {
			return nil, fmt.Errorf("parse CIDR %q: %w", part, err)
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	return out, nil
}

// ParseOutboundPolicy returns the policy of the comma-separated allow and deny lists.
func ParseOutboundPolicy(allow, deny string) (OutboundPolicy, error) {
	a, err := ParseCIDRs(allow)
	if err != nil {
		return OutboundPolicy{}, fmt.Errorf("--webhook-allow-cidrs: %w", err)
	}
	d, err := ParseCIDRs(deny)
	if err != nil {
		return OutboundPolicy{}, fmt.Errorf("--webhook-deny-cidrs: %w", err)
	}
	return OutboundPolicy{Allow: a, Deny: d}, nil
}

// control is a net.Dialer ControlContext: it runs after DNS resolution, on the address about
// to be connected, so neither a DNS name nor a redirect can get around the policy.
func (p OutboundPolicy) control(_ context.Context, _, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("outbound policy: %w", err)
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("outbound policy: dial address %q is not an IP address", host)
	}
	return p.Check(addr)
}

// proxy wraps a transport's Proxy function. Through a proxy the dial reaches the proxy, not the
// webhook, so the webhook's own addresses are checked here, before the request leaves.
func (p OutboundPolicy) proxy(next func(*http.Request) (*url.URL, error)) func(*http.Request) (*url.URL, error) {
	return func(req *http.Request) (*url.URL, error) {
		u, err := next(req)
		if err != nil || u == nil {
			return u, err
		}
		if err := p.checkHost(req.Context(), req.URL.Hostname()); err != nil {
			return nil, err
		}
		return u, nil
	}
}

// checkHost checks every address host resolves to.
func (p OutboundPolicy) checkHost(ctx context.Context, host string) error {
	if addr, err := netip.ParseAddr(host); err == nil {
		return p.Check(addr)
	}
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("outbound policy: resolve %s: %w", host, err)
	}
	for _, a := range addrs {
		if err := p.Check(a); err != nil {
			return err
		}
	}
	return nil
}
