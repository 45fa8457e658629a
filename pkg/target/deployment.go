package target

import (
	"errors"

	"sigs.k8s.io/controller-runtime/pkg/client"

	siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"
)

// Labels and annotations Siskin writes on the objects it manages.
const (
	// PrimarySuffix is appended to the name of every primary copy (Deployment, ConfigMap,
	// Secret, HorizontalPodAutoscaler) and to the selector label value of primary pods.
	PrimarySuffix = "-primary"

	// AnnotationCanary marks an object Siskin created for the Canary named by its value. An
	// object that carries it but lost its controller reference (orphaned by a deletion with
	// propagationPolicy=Orphan) is adopted again by that Canary. It is an annotation, not a
	// label, because a Canary's name may be longer than a label value allows.
	AnnotationCanary = "siskin.dev/canary"

	// AnnotationReplicas on the target remembers its replicas while it is scaled to zero.
	AnnotationReplicas = "siskin.dev/replicas"

	// AnnotationRevision on the primary is the fingerprint of the target revision it was last
	// copied from.
	AnnotationRevision = "siskin.dev/revision"

	// AnnotationConfigChecksum on the primary's pod template is a checksum of the tracked
	// configs it reads, so that a config change rolls the primary pods and nothing else does.
	AnnotationConfigChecksum = "siskin.dev/config-checksum"

	// AnnotationConfigTracking set to ConfigTrackingDisabled on a ConfigMap or Secret excludes
	// it from tracking: it is neither checksummed nor copied, and the primary reads it as is.
	AnnotationConfigTracking = "siskin.dev/config-tracking"

	// ConfigTrackingDisabled is the value of AnnotationConfigTracking that opts out.
	ConfigTrackingDisabled = "disabled"
)

// DefaultSelectorLabels are the label keys tried, in order, to find the label that tells the
// target's pods from the primary's.
var DefaultSelectorLabels = []string{"app", "name", "app.kubernetes.io/name"}

// ErrNotOwned is returned when an object Siskin would create or manage for a Canary already
// exists and is not that Canary's (see Ownership): taking it over could break its owner. It
// is wrapped with the object's kind and name and what to do.
var ErrNotOwned = errors.New("object exists and is not owned by this canary")

// Deployment is the adapter for a target of kind Deployment.
type Deployment struct {
	reader         client.Reader
	client         client.Client
	selectorLabels []string
	memo           memo
	// adoptIn are the namespaces whose Canaries take over Flagger's objects without
	// AnnotationAdopt (--adopt-flagger-namespaces); "*" is every namespace.
	adoptIn map[string]bool
}

// NewDeployment returns a Deployment adapter that reads through reader (the informer cache)
// and writes through c. selectorLabels overrides DefaultSelectorLabels when not empty.
func NewDeployment(reader client.Reader, c client.Client, selectorLabels []string) *Deployment {
	if len(selectorLabels) == 0 {
		selectorLabels = DefaultSelectorLabels
	}
	return &Deployment{reader: reader, client: c, selectorLabels: selectorLabels}
}

// AdoptFlaggerIn makes every Canary of the given namespaces ("*" for all) take over Flagger's
// objects as if it carried AnnotationAdopt=AdoptFlagger (see MarkAdoption).
func (d *Deployment) AdoptFlaggerIn(namespaces []string) {
	d.adoptIn = make(map[string]bool, len(namespaces))
	for _, ns := range namespaces {
		if ns != "" {
			d.adoptIn[ns] = true
		}
	}
}

// MarkAdoption sets AnnotationAdopt=AdoptFlagger on c, in memory only, when c's namespace is
// one of AdoptFlaggerIn's and c does not set AnnotationAdopt itself (any other value opts the
// Canary out). The routers and adapters then read the opt-in from c alone.
func (d *Deployment) MarkAdoption(c *siskinv1.Canary) {
	if !d.adoptIn[c.Namespace] && !d.adoptIn["*"] {
		return
	}
	if _, set := c.Annotations[AnnotationAdopt]; set {
		return
	}
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[AnnotationAdopt] = AdoptFlagger
}
