// Package envfile reads and writes env.json, the record of a running local environment:
// every address, the kubeconfig, and the components with their pids, health checks and logs.
// e2e tests and the demo read it to find the environment that `localenv up` started.
package envfile

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// Name is the file name of the record in the state directory.
const Name = "env.json"

// DefaultStateDir is where localenv keeps its state, relative to the repository root.
const DefaultStateDir = ".state/localenv"

// Env describes a running local environment.
type Env struct {
	// StateDir is the absolute state directory.
	StateDir string `json:"stateDir"`
	// Kubeconfig is the path of a kubeconfig with an admin token.
	Kubeconfig string `json:"kubeconfig"`
	// APIServer is the URL of kube-apiserver.
	APIServer string `json:"apiserver"`
	// Etcd is the client URL of etcd.
	Etcd string `json:"etcd"`
	// Prometheus is the URL of Prometheus (scraping the data plane every second).
	Prometheus string `json:"prometheus"`
	// Dataplane is the mesh and gateway test double.
	Dataplane Dataplane `json:"dataplane"`
	// Gateway is the Gateway API Gateway the data plane serves.
	Gateway Gateway `json:"gateway"`
	// Slack is the Slack sink.
	Slack Slack `json:"slack"`
	// Loadtester is the URL of Siskin's load tester, when localenv started one.
	Loadtester string `json:"loadtester,omitempty"`
	// PodCIDR is the range kwok gives pod IPs from, 10.X.0.0/16. A pod with IP 10.X.c.d is
	// served at its loopback twin 127.X.c.d (see e2e/localenv/podnet).
	PodCIDR string `json:"podCIDR"`
	// NodeName is the first kwok node (kept for readers of one node).
	NodeName string `json:"nodeName"`
	// NodeNames are the kwok nodes pods are scheduled to.
	NodeNames []string `json:"nodeNames,omitempty"`
	// Supervisor is the pid of the `localenv serve` process that owns every component.
	Supervisor int `json:"supervisor"`
	// Components lists what localenv runs, in start order.
	Components []Component `json:"components"`
	// ScrapeTargets are extra Prometheus jobs added with `localenv scrape`.
	ScrapeTargets map[string][]string `json:"scrapeTargets,omitempty"`
	// Ready is true once every component is healthy.
	Ready bool `json:"ready"`
}

// Dataplane gives the addresses of the data plane.
type Dataplane struct {
	// Address is host:port of the one listener: it routes by Host header, or serves as an HTTP
	// proxy (HTTP_PROXY=URL), for <svc>.<ns>[.svc.cluster.local] and HTTPRoute hostnames.
	Address string `json:"address"`
	// URL is http://Address.
	URL string `json:"url"`
	// Ingress is the ingress address for every namespace: the same listener, since routing is
	// by host; send Host: <svc>.<ns> or an HTTPRoute hostname.
	Ingress string `json:"ingress"`
	// Metrics is the URL of its Istio-standard metrics.
	Metrics string `json:"metrics"`
	// Routes is the URL of its routing table as JSON.
	Routes string `json:"routes"`
}

// Gateway names the Gateway API objects localenv creates.
type Gateway struct {
	ClassName      string `json:"className"`
	ControllerName string `json:"controllerName"`
	Namespace      string `json:"namespace"`
	Name           string `json:"name"`
}

// Slack gives the URLs of the Slack sink.
type Slack struct {
	// URL is the sink's root.
	URL string `json:"url"`
	// WebhookURL takes incoming-webhook posts (any path under URL works too).
	WebhookURL string `json:"webhookURL"`
	// APIURL is the Web API base for slack-go's OptionAPIURL.
	APIURL string `json:"apiURL"`
	// Messages lists what was received (GET) or forgets it (DELETE).
	Messages string `json:"messages"`
}

// Component is one part of the environment.
type Component struct {
	// Name is also the log file name: logs/<name>.log.
	Name string `json:"name"`
	// PID is the process id of a child process; 0 for a component that runs inside the
	// supervisor.
	PID int `json:"pid,omitempty"`
	// Health is the URL that answers 200 when the component is healthy.
	Health string `json:"health"`
	// Log is the component's log file.
	Log string `json:"log"`
}

// Read reads env.json from a state directory.
func Read(stateDir string) (*Env, error) {
	b, err := os.ReadFile(filepath.Join(stateDir, Name))
	if err != nil {
		return nil, fmt.Errorf("read local environment record: %w", err)
	}
	var e Env
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("decode %s: %w", filepath.Join(stateDir, Name), err)
	}
	return &e, nil
}

// Write writes env.json into e.StateDir atomically.
func Write(e *Env) error {
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return fmt.Errorf("encode local environment record: %w", err)
	}
	path := filepath.Join(e.StateDir, Name)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write local environment record: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write local environment record: %w", err)
	}
	return nil
}
