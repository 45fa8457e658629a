package testenv

import (
	"archive/zip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
)

// TraefikModule is the Traefik release whose IngressRoute and TraefikService CRDs the tests
// install.
const TraefikModule = "github.com/traefik/traefik/v3@v3.7.13"

// traefikCRDFiles are the CRDs of the kinds Siskin and the data plane use, inside Traefik's
// module (the reference files of its documentation).
var traefikCRDFiles = []string{
	"docs/content/reference/dynamic-configuration/traefik.io_ingressroutes.yaml",
	"docs/content/reference/dynamic-configuration/traefik.io_traefikservices.yaml",
}

// TraefikCRDs returns the paths of Traefik's IngressRoute and TraefikService CRDs, extracted
// into .state/crds/traefik/ from the zip of Traefik's module, which `go mod download` fetches
// through the module proxy. Traefik is not a dependency: only its zip is read, never compiled.
// The go command checks the zip against the checksum database when it downloads it.
func TraefikCRDs(ctx context.Context, root string) ([]string, error) {
	return moduleFiles(ctx, root, TraefikModule, traefikCRDFiles, filepath.Join(root, ".state", "crds", "traefik"))
}

// moduleFiles extracts files of a module's zip into dir (once) and returns their paths there.
func moduleFiles(ctx context.Context, root, module string, files []string, dir string) ([]string, error) {
	out := make([]string, len(files))
	missing := false
	for i, f := range files {
		out[i] = filepath.Join(dir, path.Base(f))
		if _, err := os.Stat(out[i]); err != nil {
			missing = true
		}
	}
	if !missing {
		return out, nil
	}
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", module)
	cmd.Dir = root
	// The go command may exit non-zero when the module's go.mod asks for a newer Go than this
	// one, after it has downloaded the zip and named it: only a missing Zip is a failure.
	stdout, runErr := cmd.Output()
	var mod struct{ Zip, Error string }
	if err := json.Unmarshal(stdout, &mod); err != nil || mod.Zip == "" {
		return nil, fmt.Errorf("download %s: %s: %w", module, mod.Error, errors.Join(runErr, err))
	}
	zr, err := zip.OpenReader(mod.Zip)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", mod.Zip, err)
	}
	defer func() { _ = zr.Close() }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	for i, f := range files {
		if err := extract(zr, module+"/"+f, out[i]); err != nil {
			return nil, fmt.Errorf("%s of %s: %w", f, mod.Zip, err)
		}
	}
	return out, nil
}

// extract writes the file name of a zip to out, through a temporary name: test binaries of
// several packages run at once.
func extract(zr *zip.ReadCloser, name, out string) error {
	for _, f := range zr.File {
		if f.Name != name {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return err
		}
		data, err := io.ReadAll(io.LimitReader(rc, 4<<20))
		_ = rc.Close()
		if err != nil {
			return err
		}
		tmp, err := os.CreateTemp(filepath.Dir(out), ".crd-*")
		if err != nil {
			return err
		}
		if _, err := tmp.Write(data); err != nil {
			_ = tmp.Close()
			return err
		}
		if err := tmp.Close(); err != nil {
			return err
		}
		if err := os.Chmod(tmp.Name(), 0o644); err != nil {
			return err
		}
		return os.Rename(tmp.Name(), out)
	}
	return errors.New("not found")
}
