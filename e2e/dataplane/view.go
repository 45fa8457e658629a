package dataplane

import (
	"cmp"
	"slices"
)

// RoutesView is the routing table as served on /routes.
type RoutesView struct {
	Hosts     []HostView    `json:"hosts"`
	Wildcards []HostView    `json:"wildcards,omitempty"`
	Services  []ServiceView `json:"services"`
	Errors    []string      `json:"errors,omitempty"`
}

// HostView lists the entries of one host in the order they are tried.
type HostView struct {
	Host    string      `json:"host"`
	Entries []EntryView `json:"entries"`
}

// EntryView is one match of a rule.
type EntryView struct {
	Rule     string            `json:"rule"`
	Match    map[string]string `json:"match,omitempty"`
	Backends []BackendView     `json:"backends"`
	Mirrors  []BackendView     `json:"mirrors,omitempty"`
	Timeout  string            `json:"timeout,omitempty"`
	// Canary is the canary Ingress merged into an Ingress path.
	Canary *CanaryView `json:"canary,omitempty"`
}

// CanaryView is a canary Ingress as the data plane applies it to its main Ingress's path.
type CanaryView struct {
	Ingress       string `json:"ingress"`
	Service       string `json:"service"`
	Port          int32  `json:"port,omitempty"`
	Weight        int    `json:"weight"`
	WeightTotal   int    `json:"weightTotal"`
	Header        string `json:"header,omitempty"`
	HeaderValue   string `json:"headerValue,omitempty"`
	HeaderPattern string `json:"headerPattern,omitempty"`
	Cookie        string `json:"cookie,omitempty"`
}

// BackendView is a destination of a rule; Weight for backends, Percent for mirrors.
type BackendView struct {
	Service string  `json:"service"`
	Port    int32   `json:"port,omitempty"`
	Weight  int32   `json:"weight,omitempty"`
	Percent float64 `json:"percent,omitempty"`
}

// ServiceView is a Service with its ready endpoints.
type ServiceView struct {
	Service string     `json:"service"`
	Ports   []PortView `json:"ports"`
}

// PortView is a Service port with its ready endpoints.
type PortView struct {
	Name      string     `json:"name,omitempty"`
	Port      int32      `json:"port"`
	Endpoints []Endpoint `json:"endpoints"`
}

// Routes returns the table as served on /routes.
func (t *Table) Routes() RoutesView { return t.routes }

func (t *Table) view(errs []string) RoutesView {
	v := RoutesView{Errors: errs, Hosts: []HostView{}, Services: []ServiceView{}}
	for _, h := range sortedKeys(t.hosts) {
		v.Hosts = append(v.Hosts, HostView{Host: h, Entries: viewEntries(t.hosts[h])})
	}
	for _, w := range t.wildcards {
		v.Wildcards = append(v.Wildcards, HostView{Host: "*" + w.suffix, Entries: viewEntries(w.entries)})
	}
	for _, s := range t.services {
		sv := ServiceView{Service: s.key.Namespace + "/" + s.key.Name, Ports: []PortView{}}
		for _, p := range s.ports {
			eps := p.endpoints
			if eps == nil {
				eps = []Endpoint{}
			}
			sv.Ports = append(sv.Ports, PortView{Name: p.name, Port: p.port, Endpoints: eps})
		}
		v.Services = append(v.Services, sv)
	}
	slices.SortFunc(v.Services, func(a, b ServiceView) int { return cmp.Compare(a.Service, b.Service) })
	return v
}

func viewEntries(es []entry) []EntryView {
	out := make([]EntryView, 0, len(es))
	for _, e := range es {
		ev := EntryView{Rule: e.rule.source, Backends: []BackendView{}}
		if e.match != nil {
			ev.Match = e.match.describe()
		}
		for _, b := range e.rule.backends {
			ev.Backends = append(ev.Backends, BackendView{Service: b.svc.Namespace + "/" + b.svc.Name, Port: b.port, Weight: b.weight})
		}
		for _, m := range e.rule.mirrors {
			ev.Mirrors = append(ev.Mirrors, BackendView{Service: m.svc.Namespace + "/" + m.svc.Name, Port: m.port, Percent: m.percent})
		}
		if e.rule.ingress != nil {
			ev.Canary = e.rule.ingress.canaryView()
		}
		if e.rule.timeout > 0 {
			ev.Timeout = e.rule.timeout.String()
		}
		out = append(out, ev)
	}
	return out
}
