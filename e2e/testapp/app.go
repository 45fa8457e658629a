// Package testapp is the podinfo-like HTTP application of the local environment. kwok pods run
// no containers, so a Server watches pods and serves this app for each Running pod on its
// container ports, at the pod IP or (in localenv) at the pod IP's loopback twin; the app's
// behaviour comes from the container's env, so a bad release is a pod template change, as it
// is in a real cluster:
//
//	VERSION          the version it reports (default: the image tag)
//	ERROR_RATE       fraction 0..1 of requests to / answered with 500
//	LATENCY_MS       delay added to every request except the health probes
//	WORK_RATE        worker mode: jobs the pod does on its own each second (see Worker)
//	WORK_ERROR_RATE  fraction 0..1 of those jobs that fail
//
// Every pod is served alike whatever owns it (a Deployment's ReplicaSet, a StatefulSet, a
// DaemonSet, nothing). A worker pod declares a port too: its /metrics is served there, for
// Prometheus to scrape (the pod annotations prometheus.io/scrape: "true" and
// prometheus.io/port, which the local environment's Prometheus honours).
package testapp

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Env names read from the container.
const (
	EnvVersion   = "VERSION"
	EnvErrorRate = "ERROR_RATE"
	EnvLatencyMS = "LATENCY_MS"
	// EnvWorkRate turns worker mode on: jobs per second, a positive number.
	EnvWorkRate = "WORK_RATE"
	// EnvWorkErrorRate is the fraction 0..1 of a worker's jobs that fail.
	EnvWorkErrorRate = "WORK_ERROR_RATE"
)

// maxDelay bounds /delay/{seconds}.
const maxDelay = 60 * time.Second

// maxWorkRate bounds WORK_RATE: a worker pod is a goroutine among thousands of pods.
const maxWorkRate = 10000

// Config is how one pod's app behaves.
type Config struct {
	// Version is reported by / and in the X-App-Version header.
	Version string
	// Hostname is the pod name.
	Hostname string
	// Namespace is the pod namespace.
	Namespace string
	// ErrorRate is the fraction of requests to / answered with 500.
	ErrorRate float64
	// Latency is added to every request except /healthz and /readyz.
	Latency time.Duration
	// WorkRate is the jobs per second of worker mode; 0 is no worker.
	WorkRate float64
	// WorkErrorRate is the fraction of the worker's jobs that fail.
	WorkErrorRate float64
}

// ParseConfig reads the app's behaviour from a container's env and image; values that do not
// parse are reported and replaced by the defaults.
func ParseConfig(hostname, namespace, image string, env map[string]string) (Config, error) {
	c := Config{Hostname: hostname, Namespace: namespace, Version: env[EnvVersion]}
	if c.Version == "" {
		c.Version = imageTag(image)
	}
	var errs []string
	fraction := func(name string, dst *float64) {
		if v := strings.TrimSpace(env[name]); v != "" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f > 1 {
				errs = append(errs, fmt.Sprintf("%s=%q is not a fraction between 0 and 1", name, v))
				return
			}
			*dst = f
		}
	}
	fraction(EnvErrorRate, &c.ErrorRate)
	fraction(EnvWorkErrorRate, &c.WorkErrorRate)
	if v := strings.TrimSpace(env[EnvLatencyMS]); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || f < 0:
			errs = append(errs, fmt.Sprintf("%s=%q is not a number of milliseconds", EnvLatencyMS, v))
		default:
			c.Latency = time.Duration(f * float64(time.Millisecond))
		}
	}
	if v := strings.TrimSpace(env[EnvWorkRate]); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || f < 0 || f > maxWorkRate:
			errs = append(errs, fmt.Sprintf("%s=%q is not a number of jobs per second (0..%d)", EnvWorkRate, v, maxWorkRate))
		default:
			c.WorkRate = f
		}
	}
	if errs != nil {
		return c, fmt.Errorf("pod %s/%s: %s", namespace, hostname, strings.Join(errs, "; "))
	}
	return c, nil
}

// imageTag returns the tag of an image reference, or "latest".
func imageTag(image string) string {
	if i := strings.LastIndex(image, "@"); i >= 0 {
		image = image[:i]
	}
	slash := strings.LastIndex(image, "/")
	if i := strings.LastIndex(image, ":"); i > slash {
		return image[i+1:]
	}
	return "latest"
}

// Handler returns the app's HTTP handler:
//
//	/                 JSON with hostname and version; fails at ERROR_RATE
//	/healthz /readyz  200, never delayed
//	/status/{code}    answers with that status code
//	/delay/{seconds}  answers after that many seconds (at most 60)
//	/headers          echoes the request headers
//	/version          JSON with the version
//	/metrics          the worker's job counters, when w is not nil
func Handler(cfg Config, w *Worker) http.Handler {
	return handler(cfg, w, rand.Float64)
}

func handler(cfg Config, worker *Worker, random func() float64) http.Handler {
	mux := http.NewServeMux()
	if worker != nil {
		mux.Handle("GET /metrics", worker.Metrics())
	}
	probe := func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "OK"})
	}
	mux.HandleFunc("GET /healthz", probe)
	mux.HandleFunc("GET /readyz", probe)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		if cfg.ErrorRate > 0 && random() < cfg.ErrorRate {
			writeJSON(w, http.StatusInternalServerError, map[string]any{
				"error": "injected failure", "hostname": cfg.Hostname, "version": cfg.Version,
			})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{
			"hostname":  cfg.Hostname,
			"namespace": cfg.Namespace,
			"version":   cfg.Version,
			"message":   "greetings from testapp v" + cfg.Version,
		})
	})
	mux.HandleFunc("/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": cfg.Version})
	})
	mux.HandleFunc("/status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 200 || code > 599 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status code must be 200..599"})
			return
		}
		writeJSON(w, code, map[string]int{"status": code})
	})
	mux.HandleFunc("/delay/{seconds}", func(w http.ResponseWriter, r *http.Request) {
		s, err := strconv.ParseFloat(r.PathValue("seconds"), 64)
		if err != nil || s < 0 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "delay must be a number of seconds"})
			return
		}
		d := min(time.Duration(s*float64(time.Second)), maxDelay)
		if !sleep(r, d) {
			return
		}
		writeJSON(w, http.StatusOK, map[string]float64{"delay": d.Seconds()})
	})
	mux.HandleFunc("/headers", func(w http.ResponseWriter, r *http.Request) {
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]string, len(keys)+1)
		for _, k := range keys {
			out[k] = strings.Join(r.Header.Values(k), ", ")
		}
		out["Host"] = r.Host
		writeJSON(w, http.StatusOK, out)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-App-Version", cfg.Version)
		w.Header().Set("X-App-Hostname", cfg.Hostname)
		if r.URL.Path != "/healthz" && r.URL.Path != "/readyz" && r.URL.Path != "/metrics" && cfg.Latency > 0 {
			if !sleep(r, cfg.Latency) {
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}

// sleep waits d or until the client goes away; it reports whether to go on.
func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
