#!/usr/bin/env bash
# Regenerates config/argocd/argocd-cm.yaml and the argocd-cm snippet in
# docs/argocd.md from config/argocd/access.gatestream.io/*/health.lua.
# The renderer is internal/argocd.ConfigMap; `go test ./internal/argocd/`
# fails when either file differs from what it renders.
set -euo pipefail
cd "$(dirname "$0")/.."
go test ./internal/argocd/ -count=1 -run '^TestConfigMapIsGenerated$' -update
