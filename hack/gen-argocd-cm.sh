#!/usr/bin/env bash
# Regenerates config/argocd/argocd-cm.yaml and the argocd-cm snippet in
# docs/argocd.md from config/argocd/access.gatestream.io/*/health.lua
# (hack/gen-argocd-cm; `go test ./hack/gen-argocd-cm/` fails when either file
# differs from what it renders). Same as `make argocd-cm`.
set -euo pipefail
cd "$(dirname "$0")/.."
go run ./hack/gen-argocd-cm "$@"
