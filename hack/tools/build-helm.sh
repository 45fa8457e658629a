#!/usr/bin/env bash
# Builds the pinned Helm CLI into BINDIR/helm (default <repo>/bin/helm).
#
# The pin lives in hack/tools/helm/go.mod (a module of its own: Helm brings its own Kubernetes
# libraries, which must not constrain hack/tools or the root module). The stamp file
# BINDIR/.stamp-helm holds what the binary was built from; helm is rebuilt only when the binary
# is missing or the stamp differs (for example after a pin change).
#
# Usage: hack/tools/build-helm.sh [BINDIR]
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${TOOLS}/../.." && pwd)"
BINDIR="${1:-${REPO}/bin}"
mkdir -p "${BINDIR}"
BINDIR="$(cd "${BINDIR}" && pwd)"
MODDIR="${TOOLS}/helm"

# Bump when the build recipe (flags, ldflags) changes, to force a rebuild.
RECIPE=1

export GOWORK=off
export CGO_ENABLED=0
GO="${GO:-go}"

HELM_VERSION="$("${GO}" list -C "${MODDIR}" -m -f '{{.Version}}' helm.sh/helm/v3)"
# Helm reports the Kubernetes version of its client libraries as the default for
# .Capabilities.KubeVersion; without these ldflags it would claim v1.20.
K8S_VERSION="$("${GO}" list -C "${MODDIR}" -m -f '{{.Version}}' k8s.io/client-go)" # v0.MINOR.PATCH
k8s_minor="${K8S_VERSION#v0.}"
k8s_minor="${k8s_minor%%.*}"

out="${BINDIR}/helm"
stamp_file="${BINDIR}/.stamp-helm"
stamp="helm.sh/helm/v3@${HELM_VERSION} k8s=1.${k8s_minor} recipe=${RECIPE}"
if [[ -x "${out}" && -f "${stamp_file}" && "$(<"${stamp_file}")" == "${stamp}" ]]; then
	echo "[helm] up to date (helm.sh/helm/v3@${HELM_VERSION})"
	exit 0
fi

ldflags="-s -w"
ldflags+=" -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION}"
ldflags+=" -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
	ldflags+=" -X ${pkg}.k8sVersionMajor=1 -X ${pkg}.k8sVersionMinor=${k8s_minor}"
done

echo "[helm] building from helm.sh/helm/v3@${HELM_VERSION} (first build takes a few minutes on 2 cores)..."
t0=${SECONDS}
rm -f "${stamp_file}"
"${GO}" build -C "${MODDIR}" -trimpath -ldflags "${ldflags}" -o "${out}.tmp" helm.sh/helm/v3/cmd/helm
mv -f "${out}.tmp" "${out}"
echo "${stamp}" >"${stamp_file}"
echo "[helm] built ${out} in $((SECONDS - t0))s"
