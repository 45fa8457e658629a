package router

import (
	"strings"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// DefaultPortName is the name of spec.service.port when spec.service.portName is empty.
const DefaultPortName = "http"

// Port is a routed port of a Canary's Services: spec.service.port or one of
// spec.service.additionalPorts.
type Port struct {
	// Name is the Service port's name.
	Name string
	// Number is the Service port.
	Number int32
	// TCP is true for a port whose appProtocol is tcp: it is routed by connection, not request.
	TCP bool
	// Main is true for spec.service.port, whose routes keep their names.
	Main bool
}

// Ports returns the routed ports of c: spec.service.port first, then
// spec.service.additionalPorts in spec order.
func Ports(c *siskinv1.Canary) []Port {
	s := c.Spec.Service
	name := s.PortName
	if name == "" {
		name = DefaultPortName
	}
	out := []Port{{Name: name, Number: s.Port, TCP: isTCP(s.AppProtocol), Main: true}}
	for _, p := range s.AdditionalPorts {
		out = append(out, Port{Name: p.Name, Number: p.Port, TCP: isTCP(p.AppProtocol)})
	}
	return out
}

// RouteName is the name of the route of rule name on port p: name itself on the main port,
// name-<port name> on an additional one, so that routes stay unique and the main port's
// routes keep the names they had before additional ports existed.
func (p Port) RouteName(name string) string {
	if p.Main {
		return name
	}
	return name + "-" + p.Name
}

func isTCP(appProtocol string) bool {
	return strings.EqualFold(appProtocol, "tcp")
}
