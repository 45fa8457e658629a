// Package podnet gives the local environment its pod network. kwok hands pods IPs from a
// 10.X.0.0/16 range; nothing listens on those, so each pod is served, and dialled, at its
// loopback twin 127.X.c.d (the pod IP with the first octet replaced by 127): every 127.0.0.0/8
// address is local on Linux, so binding needs no privilege and no network setup.
//
// Pod IPs cannot be loopback addresses themselves: the API server refuses loopback addresses
// in EndpointSlices, so the data plane could not find pods through them.
//
// X differs between environments running at the same time on one machine (each holds a lock
// file for its X), so their pods never compete for the same address.
package podnet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// Map translates pod IPs of one pod CIDR to their loopback twins.
type Map struct {
	cidr *net.IPNet
}

// New returns the Map of a pod CIDR such as 10.7.0.0/16.
func New(cidr string) (Map, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return Map{}, fmt.Errorf("parse pod CIDR: %w", err)
	}
	if n.IP.To4() == nil {
		return Map{}, fmt.Errorf("pod CIDR %s is not IPv4", cidr)
	}
	return Map{cidr: n}, nil
}

// Loopback returns the address a pod IP is served at: its loopback twin for an IP of the pod
// CIDR, itself for a loopback IP, and false for anything else.
func (m Map) Loopback(podIP string) (string, bool) {
	ip := net.ParseIP(podIP).To4()
	switch {
	case ip == nil:
		return "", false
	case ip.IsLoopback():
		return ip.String(), true
	case m.cidr != nil && m.cidr.Contains(ip):
		return net.IPv4(127, ip[1], ip[2], ip[3]).String(), true
	}
	return "", false
}

// Addr translates host:port when host is a pod IP of the CIDR; other addresses are returned
// unchanged.
func (m Map) Addr(hostport string) string {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return hostport
	}
	if lo, ok := m.Loopback(host); ok {
		return net.JoinHostPort(lo, port)
	}
	return hostport
}

// Lease is a pod CIDR reserved for one environment until Release (or until the process that
// holds it ends).
type Lease struct {
	// CIDR is the pod CIDR, 10.X.0.0/16.
	CIDR string
	// KwokCIDR is the same range as kwok's --cidr wants it (its first address).
	KwokCIDR string
	f        *os.File
}

// Release gives the CIDR back.
func (l *Lease) Release() {
	if l != nil && l.f != nil {
		_ = l.f.Close()
	}
}

// errTaken means another environment holds the octet.
var errTaken = errors.New("pod network taken")

// Acquire reserves a free 10.X.0.0/16 for this process. It skips 10.0 and 10.1 (common
// defaults elsewhere) and 10.96 (the Service CIDR).
func Acquire() (*Lease, error) {
	dir := filepath.Join(os.TempDir(), "siskin-localenv-podnet")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create pod network lock dir: %w", err)
	}
	const lo, hi = 2, 254
	start := lo + rand.IntN(hi-lo+1)
	for i := range hi - lo + 1 {
		x := lo + (start-lo+i)%(hi-lo+1)
		if x == 96 {
			continue
		}
		f, err := lock(filepath.Join(dir, strconv.Itoa(x)+".lock"))
		if errors.Is(err, errTaken) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &Lease{CIDR: fmt.Sprintf("10.%d.0.0/16", x), KwokCIDR: fmt.Sprintf("10.%d.0.1/16", x), f: f}, nil
	}
	return nil, errors.New("no free pod network: every 10.X.0.0/16 is held by another localenv")
}

func lock(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open pod network lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errTaken
		}
		return nil, fmt.Errorf("lock pod network: %w", err)
	}
	return f, nil
}
