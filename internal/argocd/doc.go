// Package argocd renders the Argo CD argocd-cm snippet that installs
// gatestream's health checks (config/argocd/access.gatestream.io/<Kind>/health.lua),
// and its tests run those checks the way Argo CD does: with
// github.com/yuin/gopher-lua, the resource as the global obj, and the
// health_test.yaml cases of Argo CD's resource_customizations layout.
//
// Regenerate config/argocd/argocd-cm.yaml and the snippet in docs/argocd.md
// after editing a health.lua with hack/gen-argocd-cm.sh.
package argocd
