#!/usr/bin/env bash
# Builds the real control plane that envtest and the demo run (kube-apiserver,
# etcd, kubectl, kube-controller-manager) from Go modules, because release
# downloads cannot be reached. The binaries live in a per-version cache outside
# the clone (like setup-envtest's XDG data folder) so that a fresh clone, CI's
# included, reuses them; bin/k8s is a symlink into that cache.
# Only missing binaries are built.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
k8s_version=v1.37.2
etcd_version=v3.7.3
cache=${GATESTREAM_K8S_CACHE:-${XDG_DATA_HOME:-$HOME/.local/share}/gatestream/k8s/${k8s_version}-etcd${etcd_version}}
mkdir -p "$cache" "$root/bin"

build() { # name package
  local name=$1 pkg=$2
  if [ -x "$cache/$name" ]; then return; fi
  echo "building $name from $pkg (first build of kube-apiserver takes ~15 min on 2 cores)" >&2
  (cd "$here/k8s" && CGO_ENABLED=0 go build -trimpath -o "$cache/$name.tmp" "$pkg")
  mv "$cache/$name.tmp" "$cache/$name"
}

build etcd go.etcd.io/etcd/server/v3
build kube-apiserver k8s.io/kubernetes/cmd/kube-apiserver
build kubectl k8s.io/kubernetes/cmd/kubectl
build kube-controller-manager k8s.io/kubernetes/cmd/kube-controller-manager

ln -sfn "$cache" "$root/bin/k8s"
