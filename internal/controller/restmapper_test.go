package controller

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// countingMapper counts the lookups that reach it.
type countingMapper struct {
	meta.RESTMapper
	calls int
}

func (c *countingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	c.calls++
	return c.RESTMapper.RESTMapping(gk, versions...)
}

func TestMemoRESTMapperAsksOnceForAKindItFoundAndAlwaysForOneItDidNot(t *testing.T) {
	deployments := schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}
	base := meta.NewDefaultRESTMapper([]schema.GroupVersion{deployments.GroupVersion()})
	base.Add(deployments, meta.RESTScopeNamespace)
	counting := &countingMapper{RESTMapper: base}
	m := &memoRESTMapper{RESTMapper: counting}

	for range 100 {
		mapping, err := m.RESTMapping(deployments.GroupKind(), "v1")
		if err != nil {
			t.Fatal(err)
		}
		if mapping.Scope.Name() != meta.RESTScopeNameNamespace || mapping.Resource.Resource != "deployments" {
			t.Fatalf("mapping = %+v, want namespaced deployments", mapping)
		}
	}
	if counting.calls != 1 {
		t.Errorf("100 lookups of a kind found reached the mapper %d times, want 1", counting.calls)
	}

	// A kind the mapper does not know (a CRD not installed yet) is asked again each time, so
	// that it is found once it is installed.
	routes := schema.GroupVersionKind{Group: "gateway.networking.k8s.io", Version: "v1", Kind: "GRPCRoute"}
	counting.calls = 0
	for range 3 {
		if _, err := m.RESTMapping(routes.GroupKind(), "v1"); !meta.IsNoMatchError(err) {
			t.Fatalf("lookup of an unknown kind: %v, want a NoMatch error", err)
		}
	}
	if counting.calls != 3 {
		t.Errorf("3 lookups of an unknown kind reached the mapper %d times, want 3", counting.calls)
	}
	base.Add(routes, meta.RESTScopeNamespace)
	if _, err := m.RESTMapping(routes.GroupKind(), "v1"); err != nil {
		t.Errorf("a kind installed later is not found: %v", err)
	}
}
