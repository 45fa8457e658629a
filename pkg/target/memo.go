package target

import (
	"sort"
	"strconv"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
)

// memoLimit bounds each memo: past it the memo starts over (entries of deleted objects are
// never looked up again, and this is how they go).
const memoLimit = 20000

// memo keeps the last fingerprint of each target and the last checksum of each tracked config,
// so that a round at rest or between steps does not canonicalize and hash the same template
// again (about half a millisecond a Deployment). An entry is valid for one version of its
// object: a Deployment's generation (which moves with every change to its spec) and the
// checksums of its configs, or a config's resourceVersion.
type memo struct {
	mu           sync.Mutex
	fingerprints map[types.NamespacedName]fingerprintEntry
	checksums    map[configKey]checksumEntry
}

type fingerprintEntry struct {
	version string // UID, generation (or resourceVersion where generation is not kept), configs
	fp      string
}

type configKey struct {
	kind, namespace, name string
}

type checksumEntry struct {
	version string // UID and resourceVersion
	sum     string
}

// deploymentVersion names the version of a Deployment's spec together with its configs.
func deploymentVersion(dep *appsv1.Deployment, configs map[string]string) string {
	var b strings.Builder
	b.WriteString(string(dep.UID))
	b.WriteByte('/')
	if dep.Generation > 0 {
		b.WriteString("g")
		b.WriteString(strconv.FormatInt(dep.Generation, 10))
	} else {
		// An object without a generation (a fake client's) is versioned by every change.
		b.WriteString("rv")
		b.WriteString(dep.ResourceVersion)
	}
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte('\n')
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(configs[k])
	}
	return b.String()
}

// fingerprint returns the memoized fingerprint of dep with configs, computing it when the
// Deployment or its configs changed.
func (m *memo) fingerprint(dep *appsv1.Deployment, configs map[string]string) (string, error) {
	key := types.NamespacedName{Namespace: dep.Namespace, Name: dep.Name}
	version := deploymentVersion(dep, configs)
	m.mu.Lock()
	e, ok := m.fingerprints[key]
	m.mu.Unlock()
	if ok && e.version == version {
		return e.fp, nil
	}
	fp, err := Fingerprint(dep.Spec.Template, configs)
	if err != nil {
		return "", err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fingerprints == nil || len(m.fingerprints) >= memoLimit {
		m.fingerprints = map[types.NamespacedName]fingerprintEntry{}
	}
	m.fingerprints[key] = fingerprintEntry{version: version, fp: fp}
	return fp, nil
}

// checksum returns the memoized checksum of a config at a version, computing it with sum when
// the config changed.
func (m *memo) checksum(key configKey, uid types.UID, resourceVersion string, sum func() (string, error)) (string, error) {
	version := string(uid) + "/" + resourceVersion
	if resourceVersion != "" {
		m.mu.Lock()
		e, ok := m.checksums[key]
		m.mu.Unlock()
		if ok && e.version == version {
			return e.sum, nil
		}
	}
	s, err := sum()
	if err != nil || resourceVersion == "" {
		return s, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checksums == nil || len(m.checksums) >= memoLimit {
		m.checksums = map[configKey]checksumEntry{}
	}
	m.checksums[key] = checksumEntry{version: version, sum: s}
	return s, nil
}
