package target

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	corev1 "k8s.io/api/core/v1"
)

// fingerprintLen is the number of hex characters kept from a sha256 sum: 64 bits, plenty to
// tell the revisions of one Deployment apart.
const fingerprintLen = 16

// Fingerprint identifies a revision: the pod template plus the checksums of the configs it
// reads (keys "configmap/<name>" and "secret/<name>", as returned by TrackedConfigs).
//
// The template is hashed as canonical JSON: marshalled, decoded into generic maps, stripped of
// nulls, empty strings, empty objects and empty lists (what a newer library adds for a field
// the user never set), and re-encoded with sorted keys. Zero numbers and false are kept: an
// explicit runAsUser: 0 is not the same as no runAsUser. Strings inside lists are kept even
// when empty, since a list position carries meaning (args).
func Fingerprint(tmpl corev1.PodTemplateSpec, configs map[string]string) (string, error) {
	raw, err := json.Marshal(tmpl)
	if err != nil {
		return "", fmt.Errorf("marshal pod template: %w", err)
	}
	canon, err := canonicalJSON(raw)
	if err != nil {
		return "", fmt.Errorf("canonicalize pod template: %w", err)
	}
	h := sha256.New()
	h.Write(canon)
	keys := make([]string, 0, len(configs))
	for k := range configs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		_, _ = fmt.Fprintf(h, "\n%s=%s", k, configs[k]) // a hash never fails to write
	}
	return hex.EncodeToString(h.Sum(nil))[:fingerprintLen], nil
}

// canonicalJSON re-encodes a JSON document with sorted keys and without empty values. Numbers
// are kept as written, never round-tripped through float64.
func canonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("trailing data after JSON document")
	}
	pruned, _ := prune(v)
	return json.Marshal(pruned)
}

// prune removes empty values from maps, recursively, and reports whether v itself is empty.
// List elements are pruned but never removed.
func prune(v any) (any, bool) {
	switch t := v.(type) {
	case nil:
		return nil, true
	case string:
		return t, t == ""
	case map[string]any:
		for k, e := range t {
			p, empty := prune(e)
			if empty {
				delete(t, k)
				continue
			}
			t[k] = p
		}
		return t, len(t) == 0
	case []any:
		for i, e := range t {
			t[i], _ = prune(e)
		}
		return t, len(t) == 0
	default:
		return t, false
	}
}

// configMapChecksum covers data and binaryData, so a change to either is a new revision.
func configMapChecksum(cm *corev1.ConfigMap) (string, error) {
	return checksum(struct {
		Data       map[string]string `json:"data,omitempty"`
		BinaryData map[string][]byte `json:"binaryData,omitempty"`
	}{cm.Data, cm.BinaryData})
}

// secretChecksum covers data (stringData is write-only and already merged into data).
func secretChecksum(s *corev1.Secret) (string, error) {
	return checksum(struct {
		Data map[string][]byte `json:"data,omitempty"`
	}{s.Data})
}

// checksum hashes the JSON encoding of v; encoding/json sorts map keys, so it is canonical.
func checksum(v any) (string, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return "", fmt.Errorf("marshal config content: %w", err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:])[:fingerprintLen], nil
}
