// Package v1beta1 holds the siskin.dev/v1beta1 API: Canary, MetricTemplate and AlertProvider.
//
// The field names and meanings follow the flagger.app/v1beta1 API wherever Siskin supports the
// same feature, so that an existing manifest works after changing only its apiVersion. Fields
// that go beyond it are additive and optional.
//
// The package imports only the standard library and apimachinery, so that clients can use the
// types without pulling in the controller.
//
// +kubebuilder:object:generate=true
// +groupName=siskin.dev
package v1beta1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every kind in this package.
	GroupVersion = schema.GroupVersion{Group: "siskin.dev", Version: "v1beta1"}

	// SchemeBuilder registers the kinds of this package with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the kinds of this package to a runtime.Scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion,
		&Canary{}, &CanaryList{},
		&MetricTemplate{}, &MetricTemplateList{},
		&AlertProvider{}, &AlertProviderList{},
	)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
