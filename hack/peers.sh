#!/usr/bin/env bash
# peers.sh builds the controllers the bench compares Siskin with into bin/peers/ (make peers):
# Flagger and Argo Rollouts at fixed versions, with the CRDs from their module zips. A binary
# of the right version that is already there is not built again.
set -euo pipefail

FLAGGER_VERSION=${FLAGGER_VERSION:-v1.36.1}
ROLLOUTS_VERSION=${ROLLOUTS_VERSION:-v1.10.2}
# Argo Rollouts v1.10.2 needs a newer Go than the project's; this toolchain builds it alone.
ROLLOUTS_TOOLCHAIN=${ROLLOUTS_TOOLCHAIN:-go1.27.3}

root=$(cd "$(dirname "$0")/.." && pwd)
out=${PEERS_DIR:-$root/bin/peers}
mkdir -p "$out/crds"
GO=${GO:-go}

say() { printf 'peers: %s\n' "$*" >&2; }

moddir() { # module@version -> its read-only directory in the module cache
	"$GO" mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

# Flagger.
if [[ -x $out/flagger && -f $out/flagger.version && $(cat "$out/flagger.version") == "$FLAGGER_VERSION" ]]; then
	say "flagger $FLAGGER_VERSION already built"
else
	say "building flagger $FLAGGER_VERSION"
	GOBIN=$out GOFLAGS=-mod=mod "$GO" install "github.com/fluxcd/flagger/cmd/flagger@$FLAGGER_VERSION"
	echo "$FLAGGER_VERSION" >"$out/flagger.version"
fi
dir=$(moddir "github.com/fluxcd/flagger@$FLAGGER_VERSION")
[[ -n $dir ]] || { say "flagger module not found"; exit 1; }
cp "$dir/artifacts/flagger/crd.yaml" "$out/crds/flagger.yaml"
chmod u+w "$out/crds/flagger.yaml"

# Argo Rollouts: built from a writable copy of its module, since its go.mod replaces modules
# (go install pkg@version refuses that) and the module cache is read-only.
if [[ -x $out/rollouts-controller && -f $out/rollouts-controller.version && $(cat "$out/rollouts-controller.version") == "$ROLLOUTS_VERSION" ]]; then
	say "argo rollouts $ROLLOUTS_VERSION already built"
else
	say "downloading argo rollouts $ROLLOUTS_VERSION"
	dir=$(GOTOOLCHAIN=$ROLLOUTS_TOOLCHAIN moddir "github.com/argoproj/argo-rollouts@$ROLLOUTS_VERSION")
	[[ -n $dir ]] || { say "argo rollouts module not found"; exit 1; }
	work=$(mktemp -d)
	trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
	cp -r "$dir/." "$work/"
	chmod -R u+w "$work"
	say "building argo rollouts $ROLLOUTS_VERSION with $ROLLOUTS_TOOLCHAIN (takes minutes)"
	(cd "$work" && GOTOOLCHAIN=$ROLLOUTS_TOOLCHAIN GOFLAGS=-mod=mod "$GO" build -o "$out/rollouts-controller" ./cmd/rollouts-controller)
	echo "$ROLLOUTS_VERSION" >"$out/rollouts-controller.version"
fi
dir=$(GOTOOLCHAIN=$ROLLOUTS_TOOLCHAIN moddir "github.com/argoproj/argo-rollouts@$ROLLOUTS_VERSION")
# One document per CRD file; the directory's kustomization.yaml is no CRD.
for f in "$dir"/manifests/crds/*-crd.yaml; do
	printf -- '---\n'
	cat "$f"
done >"$out/crds/argo-rollouts.yaml"
chmod u+w "$out/crds/argo-rollouts.yaml"
say "ready in $out: $(cd "$out" && echo flagger rollouts-controller crds/*)"
