#!/usr/bin/env bash
# Copies what controller-gen generates into the Helm chart, so that the chart
# never holds a hand-written CRD or manager rule:
#   config/crd/bases/*.yaml -> charts/gatestream/crds/        (byte for byte)
#   config/rbac/role.yaml   -> charts/gatestream/files/manager-role.yaml
#                              (templates/clusterrole.yaml takes its rules with .Files.Get)
# Run it after `make manifests` (make chart-sync); `make verify-chart` fails when
# the committed chart differs from what this script produces.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
chart="${root}/charts/gatestream"
bases="${root}/config/crd/bases"
role="${root}/config/rbac/role.yaml"

shopt -s nullglob
crds=("${bases}"/*.yaml)
if [ "${#crds[@]}" -eq 0 ]; then
  echo "sync-chart: no CRDs in ${bases}: run 'make manifests'" >&2
  exit 1
fi
if ! grep -q '^kind: ClusterRole$' "${role}" 2>/dev/null; then
  echo "sync-chart: ${role} is missing or not a ClusterRole: run 'make manifests'" >&2
  exit 1
fi

# CRDs: remove copies whose base is gone (a deleted or renamed kind), then copy.
mkdir -p "${chart}/crds"
for f in "${chart}"/crds/*.yaml; do
  if [ ! -e "${bases}/$(basename "${f}")" ]; then
    rm -f "${f}"
  fi
done
for f in "${crds[@]}"; do
  cp "${f}" "${chart}/crds/$(basename "${f}")"
done

# The manager's ClusterRole, verbatim.
mkdir -p "${chart}/files"
cp "${role}" "${chart}/files/manager-role.yaml"

# The StreamingSession admission policy, verbatim (its binding and parameters
# are templated: they name the release namespace and the values' admin groups).
cp "${root}/config/admission/streamingsession_policy.yaml" "${chart}/files/admission-policy.yaml"
# The policy that adds the StreamingSession finalizer at create, verbatim (with its binding).
cp "${root}/config/admission/streamingsession_finalizer.yaml" "${chart}/files/finalizer-policy.yaml"

echo "sync-chart: ${#crds[@]} CRDs and the manager ClusterRole copied into ${chart#"${root}"/}"
