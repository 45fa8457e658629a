package framework

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

const modulePath = "github.com/siskin-dev/siskin"

// RepoRoot returns the root of the Siskin repository: the nearest directory, from the working
// directory upwards, whose go.mod declares Siskin's module. Tests run in their package's
// directory and the demo in the root, so both find it.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module "+modulePath+"\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the Siskin repository (no go.mod of " + modulePath + " above the working directory)")
		}
		dir = parent
	}
}
