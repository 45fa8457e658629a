// Package freeport picks free TCP ports on the loopback interface for the processes the local
// environment, the e2e framework and the bench start.
package freeport

import (
	"context"
	"fmt"
	"net"
)

// Ports returns n distinct ports that were free on 127.0.0.1. Every listener is held until all
// n are picked, so no port is picked twice; another process may still take one between this
// call and the caller's listen, which callers that can start again handle.
func Ports(ctx context.Context, n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			_ = l.Close()
		}
	}()
	ports := make([]int, 0, n)
	var lc net.ListenConfig
	for range n {
		l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
