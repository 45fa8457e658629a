package canary

import siskinv1 "github.com/siskin-dev/siskin/api/v1beta1"

// Adjustments lists, in a fixed order, how the controller reads spec otherwise than it is
// written, the way Flagger does: the notes of the SpecAdjusted condition. defaultProvider is
// the controller's default router provider, as for Provider. The spec is read as the
// controller reads it, after Normalize.
func Adjustments(spec *siskinv1.CanarySpec, defaultProvider string) []string {
	s := spec.DeepCopy()
	Normalize(s)
	return adjustments(s, Provider(s, defaultProvider))
}
