# Siskin — progressive delivery for Kubernetes.
# `make help` lists the targets. First runs build Kubernetes from source into bin/ (`make tools`):
# that takes several minutes on 2 cores and shows progress; later runs reuse bin/.

SHELL := /usr/bin/env bash -o pipefail
.SHELLFLAGS := -ec

BIN        := $(CURDIR)/bin
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO         ?= go
IMG        ?= ghcr.io/siskin-dev/siskin:$(VERSION)

CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT  := $(BIN)/golangci-lint
HELM           := $(BIN)/helm
LOADTESTER_IMG ?= ghcr.io/siskin-dev/siskin-loadtester:$(VERSION)
DASHBOARD_IMG ?= ghcr.io/siskin-dev/siskin-dashboard:$(VERSION)
export KUBEBUILDER_ASSETS := $(BIN)

# Packages whose tests need a real API server; everything else is a unit test.
GO_TEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: all
all: build

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*##/ {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

##@ Tools

.PHONY: tools
tools: ## Build etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok, controller-gen, golangci-lint and helm into bin/ (skips what is built).
	@hack/tools/build.sh $(BIN)
	@hack/tools/build-helm.sh $(BIN)

$(CONTROLLER_GEN) $(GOLANGCI_LINT) $(BIN)/kube-apiserver $(BIN)/etcd $(BIN)/kubectl:
	@hack/tools/build.sh $(BIN)

$(HELM):
	@hack/tools/build-helm.sh $(BIN)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object paths=./api/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC into config/.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=true,maxDescLen=400 paths=./api/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=siskin paths="./internal/...;./pkg/router/...;./pkg/metrics/..." output:rbac:artifacts:config=config/rbac
	@hack/chart-sync.sh

.PHONY: chart-sync
chart-sync: ## Copy generated CRDs and RBAC rules into charts/siskin and config/default/generated.
	hack/chart-sync.sh

.PHONY: fmt
fmt: ## Format the Go code.
	$(GO) fmt ./...

.PHONY: vet
vet: ## Run go vet.
	$(GO) vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint.
	$(GOLANGCI_LINT) run ./...

.PHONY: test
test: manifests generate $(BIN)/kube-apiserver $(BIN)/etcd $(BIN)/kubectl $(HELM) ## Run unit and integration tests (integration tests start a real API server from bin/, Prometheus, graphite-web with carbon-cache, and headless chromium; all are installed from Debian when missing).
	@hack/prometheus.sh
	@hack/graphite.sh
	@hack/chromium.sh
	$(GO) test $(GO_TEST_FLAGS) ./...

.PHONY: verify
verify: manifests generate ## Regenerate, then fail if the tree differs from what is committed.
	$(GO) mod tidy
	@if [ -n "$$(git status --porcelain -- api config charts go.mod go.sum)" ]; then \
		echo "generated files are stale; run 'make manifests generate' and 'go mod tidy' and commit:"; \
		git status --porcelain -- api config charts go.mod go.sum; git --no-pager diff --stat -- api config charts go.mod go.sum; exit 1; \
	fi
	@echo "verify: generated files are up to date"

##@ Build

.PHONY: build
build: generate ## Build bin/siskin and bin/siskin-loadtester.
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/siskin ./cmd/siskin
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o $(BIN)/siskin-loadtester ./cmd/loadtester

# kubectl-siskin: the version is stamped into internal/cli; archives for krew go to bin/plugin/.
PLUGIN_LDFLAGS   := -s -w -X github.com/siskin-dev/siskin/internal/cli.version=$(VERSION)
PLUGIN_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

.PHONY: plugin
plugin: ## Build bin/kubectl-siskin, the kubectl plugin, for this machine.
	$(GO) build -trimpath -ldflags "$(PLUGIN_LDFLAGS)" -o $(BIN)/kubectl-siskin ./cmd/kubectl-siskin

.PHONY: plugin-dist
plugin-dist: ## Cross-build kubectl-siskin for linux/darwin x amd64/arm64 into bin/plugin/ (tar.gz, sha256sums.txt, rendered krew manifest siskin.yaml).
	@rm -rf $(BIN)/plugin && mkdir -p $(BIN)/plugin
	@for p in $(PLUGIN_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; dir=$(BIN)/plugin/kubectl-siskin_$${os}_$${arch}; \
		echo "build kubectl-siskin $$os/$$arch"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags "$(PLUGIN_LDFLAGS)" -o $$dir/kubectl-siskin ./cmd/kubectl-siskin; \
		tar -C $$dir --sort=name --owner=0 --group=0 --mtime='1970-01-01' -czf $$dir.tar.gz kubectl-siskin; \
	done
	@cd $(BIN)/plugin && sha256sum *.tar.gz > sha256sums.txt
	@sed -e 's|$${VERSION}|$(VERSION)|g' hack/krew/siskin.yaml > $(BIN)/plugin/siskin.yaml
	@while read -r sum file; do \
		plat=$${file#kubectl-siskin_}; plat=$${plat%.tar.gz}; \
		sed -i -e "s|\$${SHA256_$$plat}|$$sum|" $(BIN)/plugin/siskin.yaml; \
	done < $(BIN)/plugin/sha256sums.txt
	@echo "bin/plugin: $$(cd $(BIN)/plugin && ls *.tar.gz | tr '\n' ' ')siskin.yaml"

.PHONY: run
run: manifests generate ## Run the controller against the cluster of the current kubeconfig.
	$(GO) run ./cmd/siskin --log-encoding=console $(ARGS)

.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(BIN)/kubectl apply --server-side -f config/crd/bases

.PHONY: test-install
test-install: manifests $(HELM) $(BIN)/kubectl $(BIN)/kube-apiserver $(BIN)/etcd ## Lint and render the chart, build the kustomize installs, dry-run apply them, check kstatus.
	$(GO) test $(GO_TEST_FLAGS) ./test/install/...

.PHONY: docker-build
docker-build: ## Build the controller, load tester and dashboard images (needs Docker with BuildKit; not available on the dev machine).
	docker build --build-arg VERSION=$(VERSION) -t $(IMG) .
	docker build --build-arg VERSION=$(VERSION) --target loadtester -t $(LOADTESTER_IMG) .
	docker build --build-arg VERSION=$(VERSION) --target dashboard -t $(DASHBOARD_IMG) .

##@ Local environment

.PHONY: localenv
localenv: ## Build bin/localenv, the local environment's supervisor.
	$(GO) build -o $(BIN)/localenv ./e2e/localenv

.PHONY: localenv-up
localenv-up: tools localenv build ## Bring up the local environment (Kubernetes from bin/, kwok, data plane, Prometheus, Slack sink, load tester).
	@hack/prometheus.sh
	$(BIN)/localenv up --loadtester $(BIN)/siskin-loadtester $(ARGS)

.PHONY: localenv-down
localenv-down: localenv ## Stop what localenv-up started.
	$(BIN)/localenv down

.PHONY: localenv-status
localenv-status: localenv ## Show the health of each local component.
	$(BIN)/localenv status

.PHONY: e2e
e2e: tools build plugin ## Run the end-to-end scenarios on the local environment.
	@hack/prometheus.sh
	@hack/chromium.sh
	$(GO) test -tags e2e -count=1 -timeout 60m -v ./e2e/...

.PHONY: e2e-shards
e2e-shards: tools build ## The sharding scenario: three replicas share 300 Canaries over three shards, one is killed (SIGKILL) mid fleet-wide change; every rollout must complete exactly once.
	@hack/prometheus.sh
	$(GO) test -tags e2eshards -count=1 -timeout 45m -v ./e2e/shards/

.PHONY: bench
bench: tools build localenv ## Go benchmarks of the hot paths, then the scale bench on the local environment (N=100 and 1000; under 15 minutes per N).
	@hack/prometheus.sh
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/canary/ ./pkg/target/ ./pkg/metrics/
	$(GO) run ./e2e/bench -n 100,1000 -out bench.json -profile-dir bench-profiles

.PHONY: peers
peers: ## Build the controllers the bench compares with into bin/peers/: Flagger v1.36.1 and Argo Rollouts v1.10.2, with their CRDs (skipped when built).
	@hack/peers.sh

.PHONY: bench-peers
bench-peers: tools build localenv peers ## The scale bench with Flagger and Argo Rollouts side by side in the same run (N=100,1000 unless ARGS says; docs/bench.md).
	@hack/prometheus.sh
	$(GO) run ./e2e/bench -controllers siskin,flagger,argo -n 100,1000 -out bench-peers.json $(ARGS)

.PHONY: bench-floor
bench-floor: tools localenv ## The control plane alone, no controller: the fleet-wide change of N=1000 with only the Deployment writes a canary rollout needs, then with Siskin's status, route and event writes too (docs/bench.md; about 15 minutes).
	@hack/prometheus.sh
	$(GO) run ./e2e/bench -floor -n 1000 -out bench-floor.json $(ARGS)
	$(GO) run ./e2e/bench -floor -floor-writes -n 1000 -out bench-floor-writes.json $(ARGS)

.PHONY: bench-decisions
bench-decisions: ## Simulate releases through the planner and compare threshold, fixed-horizon and sequential judging (docs/analysis.md; about 8 minutes on 2 shared cores; ARGS="-good 200 -n 20" for a short run).
	$(GO) run ./e2e/decisions $(ARGS)

.PHONY: chaos
chaos: tools build localenv ## Fault injection on the local environment: 50 rollouts while the controller is SIGKILLed every 5-20 s, a leader handover, a Prometheus outage and an API server restart (ARGS="-rollouts 6 -kills 2" for a short run).
	@hack/prometheus.sh
	$(GO) run ./e2e/chaos $(ARGS)

.PHONY: demo
demo: tools build plugin localenv ## Bring up the local environment and walk a canary through a promotion and a rollback.
	@hack/prometheus.sh
	$(GO) run ./e2e/demo
