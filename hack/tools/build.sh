#!/usr/bin/env bash
# Builds the pinned Kubernetes binaries and dev tools into BINDIR (default <repo>/bin):
#   etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok controller-gen golangci-lint
# plus kwok's "fast" stage configs into BINDIR/kwok-stages/.
#
# Pins live in hack/tools/go.mod (Kubernetes, kwok, controller-gen), hack/tools/etcd/go.mod and
# hack/tools/golangci-lint/go.mod. The root module is never touched.
# Each tool has a stamp file BINDIR/.stamp-<tool> holding what it was built from; a tool is
# rebuilt only when its binary is missing or its stamp differs (for example after a pin change).
#
# Usage: hack/tools/build.sh [BINDIR]
set -euo pipefail

TOOLS="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "${TOOLS}/../.." && pwd)"
BINDIR="${1:-${REPO}/bin}"
mkdir -p "${BINDIR}"
BINDIR="$(cd "${BINDIR}" && pwd)"

# Bump when the build recipe (flags, ldflags) changes, to force a rebuild of everything.
RECIPE=1

export GOWORK=off
export CGO_ENABLED=0

GO="${GO:-go}"
BUILD_DATE="$(date -u +%Y-%m-%dT%H:%M:%SZ)"

# module_version DIR MODULE: the version of MODULE required by the go.mod in DIR.
module_version() {
	"${GO}" list -C "$1" -m -f '{{.Version}}' "$2"
}

K8S_VERSION="$(module_version "${TOOLS}" k8s.io/kubernetes)"
KWOK_VERSION="$(module_version "${TOOLS}" sigs.k8s.io/kwok)"
CTRL_TOOLS_VERSION="$(module_version "${TOOLS}" sigs.k8s.io/controller-tools)"
ETCD_VERSION="$(module_version "${TOOLS}/etcd" go.etcd.io/etcd/server/v3)"
GOLANGCI_VERSION="$(module_version "${TOOLS}/golangci-lint" github.com/golangci/golangci-lint/v2)"

k8s_minor="${K8S_VERSION#v}"
k8s_major="${k8s_minor%%.*}"
k8s_minor="${k8s_minor#*.}"
k8s_minor="${k8s_minor%%.*}"
K8S_LDFLAGS="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
	K8S_LDFLAGS+=" -X ${pkg}.gitVersion=${K8S_VERSION}"
	K8S_LDFLAGS+=" -X ${pkg}.gitMajor=${k8s_major}"
	K8S_LDFLAGS+=" -X ${pkg}.gitMinor=${k8s_minor}"
	K8S_LDFLAGS+=" -X ${pkg}.gitTreeState=clean"
	K8S_LDFLAGS+=" -X ${pkg}.buildDate=${BUILD_DATE}"
done

# name | module dir | package | pinned module@version | ldflags | first-build hint
K8S_HINT="first build takes several minutes on 2 cores"
TOOL_LIST=(
	"etcd|${TOOLS}/etcd|go.etcd.io/etcd/server/v3|go.etcd.io/etcd/server/v3@${ETCD_VERSION}|-s -w|about a minute"
	"kube-apiserver|${TOOLS}|k8s.io/kubernetes/cmd/kube-apiserver|k8s.io/kubernetes@${K8S_VERSION}|${K8S_LDFLAGS}|${K8S_HINT}"
	"kube-controller-manager|${TOOLS}|k8s.io/kubernetes/cmd/kube-controller-manager|k8s.io/kubernetes@${K8S_VERSION}|${K8S_LDFLAGS}|${K8S_HINT}"
	"kube-scheduler|${TOOLS}|k8s.io/kubernetes/cmd/kube-scheduler|k8s.io/kubernetes@${K8S_VERSION}|${K8S_LDFLAGS}|${K8S_HINT}"
	"kubectl|${TOOLS}|k8s.io/kubernetes/cmd/kubectl|k8s.io/kubernetes@${K8S_VERSION}|${K8S_LDFLAGS}|${K8S_HINT}"
	"kwok|${TOOLS}|sigs.k8s.io/kwok/cmd/kwok|sigs.k8s.io/kwok@${KWOK_VERSION}|-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}|a minute or two"
	"controller-gen|${TOOLS}|sigs.k8s.io/controller-tools/cmd/controller-gen|sigs.k8s.io/controller-tools@${CTRL_TOOLS_VERSION}|-s -w -X sigs.k8s.io/controller-tools/pkg/version.version=${CTRL_TOOLS_VERSION}|about a minute"
	"golangci-lint|${TOOLS}/golangci-lint|github.com/golangci/golangci-lint/v2/cmd/golangci-lint|github.com/golangci/golangci-lint/v2@${GOLANGCI_VERSION}|-s -w -X main.version=${GOLANGCI_VERSION#v} -X main.date=${BUILD_DATE}|a few minutes"
)

total=${#TOOL_LIST[@]}
i=0
built=0
start_all=${SECONDS}
for entry in "${TOOL_LIST[@]}"; do
	i=$((i + 1))
	IFS='|' read -r name dir pkg pin ldflags hint <<<"${entry}"
	out="${BINDIR}/${name}"
	stamp_file="${BINDIR}/.stamp-${name}"
	stamp="${pin} recipe=${RECIPE}"
	if [[ -x "${out}" && -f "${stamp_file}" && "$(<"${stamp_file}")" == "${stamp}" ]]; then
		echo "[${i}/${total}] ${name} up to date (${pin})"
		continue
	fi
	echo "[${i}/${total}] building ${name} from ${pin} (${hint})..."
	t0=${SECONDS}
	rm -f "${stamp_file}"
	"${GO}" build -C "${dir}" -trimpath -ldflags "${ldflags}" -o "${out}.tmp" "${pkg}"
	mv -f "${out}.tmp" "${out}"
	echo "${stamp}" >"${stamp_file}"
	built=$((built + 1))
	echo "[${i}/${total}] ${name} built in $((SECONDS - t0))s"
done

# kwok's stage configs (Stage objects from kustomize/stage/*/fast/*.yaml in the kwok module).
stages_dir="${BINDIR}/kwok-stages"
stages_stamp="${BINDIR}/.stamp-kwok-stages"
stages_want="sigs.k8s.io/kwok@${KWOK_VERSION} recipe=${RECIPE}"
if [[ -d "${stages_dir}" && -f "${stages_stamp}" && "$(<"${stages_stamp}")" == "${stages_want}" ]]; then
	echo "kwok stages up to date in ${stages_dir}"
else
	kwok_dir="$("${GO}" list -C "${TOOLS}" -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
	if [[ -z "${kwok_dir}" ]]; then
		(cd "${TOOLS}" && "${GO}" mod download sigs.k8s.io/kwok)
		kwok_dir="$("${GO}" list -C "${TOOLS}" -m -f '{{.Dir}}' sigs.k8s.io/kwok)"
	fi
	rm -rf "${stages_dir}"
	mkdir -p "${stages_dir}"
	n=0
	for f in "${kwok_dir}"/kustomize/stage/*/fast/*.yaml; do
		grep -q '^kind: Stage$' "${f}" || continue # skip kustomization.yaml, StorageClass
		cp "${f}" "${stages_dir}/"
		n=$((n + 1))
	done
	chmod -R u+w "${stages_dir}"
	if [[ ${n} -eq 0 ]]; then
		echo "no kwok stage files found under ${kwok_dir}/kustomize/stage/*/fast" >&2
		exit 1
	fi
	echo "${stages_want}" >"${stages_stamp}"
	echo "copied ${n} kwok stage files to ${stages_dir}"
fi

echo "tools: ${built} built, $((total - built)) up to date, $((SECONDS - start_all))s total, in ${BINDIR}"
