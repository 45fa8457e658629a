package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// document is one manifest of a file.
type document struct {
	// APIVersion and Kind say what it is.
	APIVersion string
	Kind       string
	// JSON is the document as JSON.
	JSON []byte
}

// readDocuments reads the YAML or JSON documents of path ("-" is stdin). Lists (kind List) are
// flattened.
func readDocuments(path string, stdin io.Reader) ([]document, error) {
	var r io.Reader
	if path == "-" {
		r = stdin
	} else {
		f, err := os.Open(path) //nolint:gosec // the user names the file to read
		if err != nil {
			return nil, err
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var out []document
	for {
		var raw map[string]any
		if err := dec.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		if raw == nil {
			continue
		}
		docs, err := flatten(raw)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path, err)
		}
		out = append(out, docs...)
	}
}

func flatten(raw map[string]any) ([]document, error) {
	apiVersion, _ := raw["apiVersion"].(string)
	kind, _ := raw["kind"].(string)
	if kind == "List" {
		items, _ := raw["items"].([]any)
		var out []document
		for _, it := range items {
			m, ok := it.(map[string]any)
			if !ok {
				continue
			}
			docs, err := flatten(m)
			if err != nil {
				return nil, err
			}
			out = append(out, docs...)
		}
		return out, nil
	}
	data, err := yaml.Marshal(raw)
	if err != nil {
		return nil, err
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, err
	}
	return []document{{APIVersion: apiVersion, Kind: kind, JSON: js}}, nil
}

// decodeStrict decodes JSON into v, refusing fields v does not have.
func decodeStrict(data []byte, v any) error {
	return yaml.UnmarshalStrict(bytes.TrimSpace(data), v)
}
