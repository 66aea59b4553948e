# hybridnode. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
PKG     := github.com/hybridnode/hybridnode
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
ARCHES  ?= amd64 arm64
BIN     := bin

export CGO_ENABLED := 0

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-10s %s\n", $$1, $$2}'

.PHONY: build
build: ## static binaries for linux/amd64 and linux/arm64 in bin/
	@for arch in $(ARCHES); do \
	  GOOS=linux GOARCH=$$arch go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hybridnode-linux-$$arch ./cmd/hybridnode || exit 1; \
	done
	@ls -l $(BIN)/

.PHONY: test
test: ## unit and integration tests (no root, no network beyond loopback)
	go vet ./...
	@test -z "$$(gofmt -l cmd bootstrap kubelet assets)" || { echo "gofmt needed:"; gofmt -l cmd bootstrap kubelet assets; exit 1; }
	go test -count=1 ./...

.PHONY: bench
bench: ## benchmarks that print figures
	go test -run '^$$' -bench . -benchmem ./...

.PHONY: e2e
e2e: ## real-cluster test: control plane + systemd-nspawn nodes joined by hybridnode (root)
	bash e2e/run.sh test

.PHONY: demo
demo: ## set everything up and join one node to the embedded cluster (root)
	bash e2e/run.sh demo

.PHONY: down
down: ## tear down what demo or an interrupted e2e left
	bash e2e/run.sh down

.PHONY: clean
clean: ## remove build outputs
	rm -rf $(BIN) dist
