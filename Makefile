# gatestream Makefile. `make test` and `make demo` work on a fresh clone: every
# tool is built from pinned Go modules into bin/ (nothing comes from release pages).

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

LOCALBIN ?= $(CURDIR)/bin
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
KUSTOMIZE ?= $(LOCALBIN)/kustomize
HELM ?= $(LOCALBIN)/helm
K8S_BIN ?= $(LOCALBIN)/k8s

# Pinned tool versions (controller-gen is pinned in hack/tools/go.mod).
KUSTOMIZE_VERSION ?= v5.8.0
HELM_VERSION ?= v3.22.0

# envtest runs the kube-apiserver, etcd and kubectl that hack/build-k8s.sh builds from Go modules.
export KUBEBUILDER_ASSETS ?= $(K8S_BIN)

GO_TEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } /^##@/ { printf "\n%s\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate CRDs and RBAC from the markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./api/..." paths="./controllers/..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: controller-gen ## Generate deepcopy code from the markers.
	$(CONTROLLER_GEN) object:headerFile="hack/boilerplate.go.txt" paths="./api/..."

.PHONY: fmt
fmt: ## go fmt.
	go fmt ./...

.PHONY: vet
vet: ## go vet.
	go vet ./...

.PHONY: test
# The browser tests (headless Chromium) run on their own with -v, so that the
# log shows by name that they ran (under CI they fail, never skip, without Chromium).
BROWSER_TESTS := ^(TestChromiumSignInConnect|TestChromiumNapterConnect|TestE2EDemo)$$

test: manifests generate fmt vet k8s test-deps ## Run every test against a real kube-apiserver and etcd (built on first use).
	go test $(GO_TEST_FLAGS) -skip '$(BROWSER_TESTS)' ./...
	@echo "== the browser tests (headless Chromium), by name"
	go test $(GO_TEST_FLAGS) -v -run '$(BROWSER_TESTS)' ./internal/portal/ ./hack/demo/ | grep -E '^ *(=== RUN|--- |PASS|FAIL|ok)|_test.go:[0-9]+:'
	@echo "== the emulators and cloud clients under the race detector (concurrent tests)"
	go test -race $(GO_TEST_FLAGS) ./internal/emulator/... ./internal/soracom/ ./internal/aws/
	@echo "== every fuzz target, briefly (make fuzz for longer)"
	FUZZTIME=$(TEST_FUZZTIME) bash hack/fuzz.sh

# How long make test fuzzes each target (make fuzz: FUZZTIME, default 60s).
TEST_FUZZTIME ?= 3s
FUZZTIME ?= 60s

.PHONY: fuzz
fuzz: k8s ## Fuzz every target (Go native fuzzing) for FUZZTIME each; a failing input lands in testdata/fuzz/ (commit it with the fix).
	FUZZTIME=$(FUZZTIME) bash hack/fuzz.sh

.PHONY: test-deps
test-deps: ## Install Debian's chromium for the browser tests (when root; without it they skip, or fail when CI is set).
	hack/install-test-deps.sh

.PHONY: test-race
test-race: k8s ## Run the tests with the race detector.
	go test -race $(GO_TEST_FLAGS) ./...

.PHONY: verify-generated
verify-generated: manifests generate ## Fail when generated files differ from the committed ones.
	@git diff --exit-code -- api config || { echo "generated files are stale: run 'make manifests generate' and commit"; exit 1; }

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager binary.
	go build -o $(LOCALBIN)/manager .

.PHONY: run
run: manifests generate fmt vet ## Run the manager against the cluster in ~/.kube/config.
	go run . --log-format=console

##@ Tools (built from Go modules into bin/)

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN)
$(CONTROLLER_GEN): hack/tools/go.mod hack/tools/go.sum
	cd hack/tools && go build -o $(CONTROLLER_GEN) sigs.k8s.io/controller-tools/cmd/controller-gen

.PHONY: k8s
k8s: ## Build kube-apiserver, etcd, kubectl and kube-controller-manager from Go modules (only those missing).
	hack/build-k8s.sh

.PHONY: kustomize
kustomize: $(KUSTOMIZE)
$(KUSTOMIZE):
	GOBIN=$(LOCALBIN) go install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)

.PHONY: helm
helm: $(HELM)
$(HELM):
	GOBIN=$(LOCALBIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

##@ Deploy

# The manager image that docker-build builds and deploy installs.
IMG ?= ghcr.io/gatestream/gatestream:0.1.0
CONTAINER_TOOL ?= docker
KUBECTL ?= kubectl

.PHONY: docker-build
docker-build: ## Build the manager image $(IMG) from the Dockerfile.
	$(CONTAINER_TOOL) build -t $(IMG) .

.PHONY: docker-push
docker-push: ## Push the manager image $(IMG).
	$(CONTAINER_TOOL) push $(IMG)

.PHONY: chart-sync
chart-sync: ## Copy the generated CRDs and manager ClusterRole into charts/gatestream (hack/sync-chart.sh).
	hack/sync-chart.sh

.PHONY: verify-chart
verify-chart: manifests chart-sync ## Fail when charts/ differs from what `make manifests chart-sync` produces.
	@git diff --exit-code -- charts/ && test -z "$$(git status --porcelain --untracked-files=all -- charts/)" || { git status --short -- charts/; echo "charts/ is stale: run 'make manifests chart-sync' and commit"; exit 1; }

.PHONY: helm-lint
helm-lint: helm ## Lint the chart against values.schema.json.
	$(HELM) lint --strict charts/gatestream

.PHONY: install
install: manifests kustomize ## Install the CRDs into the cluster in ~/.kube/config.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) apply --server-side -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Remove the CRDs (and every gatestream object) from the cluster.
	$(KUSTOMIZE) build config/crd | $(KUBECTL) delete --ignore-not-found -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy the operator (config/default) with image $(IMG).
	cd config/manager && $(KUSTOMIZE) edit set image controller=$(IMG)
	$(KUSTOMIZE) build config/default | $(KUBECTL) apply --server-side -f -

.PHONY: undeploy
undeploy: kustomize ## Remove what deploy installed.
	$(KUSTOMIZE) build config/default | $(KUBECTL) delete --ignore-not-found -f -

##@ Docs

.PHONY: api-docs
api-docs: manifests ## Generate docs/api-reference.md from the CRDs and api/v1alpha1 (hack/gen-api-docs).
	go run ./hack/gen-api-docs -out docs/api-reference.md

.PHONY: argocd-cm
argocd-cm: ## Generate config/argocd/argocd-cm.yaml and its copy in docs/argocd.md from the health.lua files (hack/gen-argocd-cm).
	go run ./hack/gen-argocd-cm

.PHONY: plugin
plugin: ## Build the kubectl plugin into bin/kubectl-gatestream (bin/ on PATH makes `kubectl gatestream`).
	go build -o $(LOCALBIN)/kubectl-gatestream ./cmd/kubectl-gatestream

##@ Demo

# Flags for hack/demo, e.g. DEMO_FLAGS="--exit-after-ready" or "--keep-dir --timeout 5m".
DEMO_FLAGS ?=

.PHONY: demo
demo: k8s plugin ## Run gatestream locally (control plane, kube-controller-manager, cloud emulators, manager, samples) and print a streaming URL; Ctrl-C stops and cleans up.
	go build -o $(LOCALBIN)/gatestream-demo ./hack/demo
	$(LOCALBIN)/gatestream-demo $(DEMO_FLAGS)

##@ Benchmark

# Flags for hack/bench, e.g. BENCH_FLAGS="--sessions 200 --runs 3" or "--scale" (docs/benchmark.md).
BENCH_FLAGS ?=

.PHONY: bench
bench: k8s ## Measure the manager (bin/manager, shipped defaults and tuned) against the bare API writes of N StreamingSessions on a real control plane (docs/benchmark.md).
	go run ./hack/bench $(BENCH_FLAGS)

##@ Chaos

# Flags for hack/chaos, e.g. CHAOS_FLAGS="--runs 3" or "--short" (docs/chaos.md).
CHAOS_FLAGS ?=

.PHONY: chaos
chaos: k8s ## Run the manager through crashes, cloud faults, a leader kill, an API server outage and a disaster recovery; print the table (docs/chaos.md).
	go run ./hack/chaos $(CHAOS_FLAGS)

##@ Portal

.PHONY: portal
portal: ## Build the self-service portal into bin/gatestream-portal (docs/portal.md).
	go build -o $(LOCALBIN)/gatestream-portal ./cmd/gatestream-portal

.PHONY: test-portal
test-portal: k8s helm ## Run the portal's tests (and its chart tests); GATESTREAM_SCREENSHOT_DIR=dir keeps the browser test's screenshots.
	go test $(GO_TEST_FLAGS) ./internal/portal/ ./cmd/gatestream-portal/
	go test $(GO_TEST_FLAGS) -run Portal ./internal/install/

.PHONY: docker-build-portal
docker-build-portal: ## Build the portal image $(PORTAL_IMG) (cmd/gatestream-portal/Dockerfile).
	$(CONTAINER_TOOL) build -f cmd/gatestream-portal/Dockerfile -t $(PORTAL_IMG) .

PORTAL_IMG ?= ghcr.io/gatestream/gatestream-portal:latest
