package framework

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// StopComponent stops one of the environment's child processes (prometheus or kube-apiserver)
// through the supervisor, as an outage would: the process ends, its address refuses
// connections.
func (e *Env) StopComponent(ctx context.Context, name string) error {
	return e.supervisorPost(ctx, "stop/"+name)
}

// StartComponent starts a component stopped with StopComponent again, with the same command
// line, and returns once it is healthy.
func (e *Env) StartComponent(ctx context.Context, name string) error {
	return e.supervisorPost(ctx, "start/"+name)
}

func (e *Env) supervisorPost(ctx context.Context, path string) error {
	base := ""
	for _, c := range e.Info.Components {
		if c.Name == "localenv" {
			base = strings.TrimSuffix(c.Health, "/healthz")
		}
	}
	if base == "" {
		return fmt.Errorf("env.json names no supervisor endpoint")
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/"+path, nil)
	if err != nil {
		return err
	}
	// The start of a component waits until it is healthy: longer than httpClient allows.
	hc := &http.Client{Transport: httpClient.Transport}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("supervisor %s: %w", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("supervisor %s: %s: %s", path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
