# hybridnode. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
# Evaluated once: every binary and package of one run carries the same stamp.
VERSION := $(VERSION)
COMMIT  := $(COMMIT)
DATE    := $(DATE)
PKG     := github.com/hybridnode/hybridnode
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
ARCHES  ?= amd64 arm64
BIN     := bin
DIST    := dist

# .deb/.rpm version from VERSION (v1.2.3-4-gabc -> 1.2.3+4.gabc; see the script).
PKG_VERSION ?= $(shell sh packaging/pkg-version.sh '$(VERSION)')
# Package file times: the commit's, so the same commit packs the same files.
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || date +%s)

# Pinned tools, fetched through the Go module proxy into .tools/ by `go install`.
# staticcheck v0.8.2 is release 2026.2.2; nfpm stays on v2.45.x (v2.47 and later
# do not download through the proxy here).
TOOLS               := $(CURDIR)/.tools
STATICCHECK_VERSION := v0.8.2
NFPM_VERSION        := v2.45.2
STATICCHECK         := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)
NFPM                := $(TOOLS)/nfpm-$(NFPM_VERSION)

# make release BASE_URL=https://<bucket>.oss-<region>.aliyuncs.com/<prefix>
BASE_URL ?=
RELEASE_URL = $(patsubst %/,%,$(strip $(BASE_URL)))
ifneq ($(filter release,$(MAKECMDGOALS)),)
ifeq ($(strip $(BASE_URL)),)
$(error release needs BASE_URL, where dist/ will be uploaded: make release BASE_URL=https://<bucket>.oss-<region>.aliyuncs.com/hybridnode/<version>)
endif
ifeq ($(filter https://% http://%,$(BASE_URL)),)
$(error BASE_URL must start with https:// or http://, got '$(BASE_URL)')
endif
ifneq ($(words $(BASE_URL))$(findstring ',$(BASE_URL))$(findstring ",$(BASE_URL))$(findstring \,$(BASE_URL))$(findstring &,$(BASE_URL))$(findstring |,$(BASE_URL)),1)
$(error BASE_URL must not hold spaces, quotes, backslashes, & or |: '$(BASE_URL)')
endif
endif

export CGO_ENABLED := 0

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z0-9_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

# The node binary is downloaded at every bare boot: `make build` fails when it
# grows past this many bytes (20 MB).
NODE_BINARY_MAX := 20000000

.PHONY: build
build: ## static binaries for linux/amd64 and linux/arm64 in bin/: hybridnode (nodes) and hybridnode-cluster (administrators)
	@for arch in $(ARCHES); do \
	  GOOS=linux GOARCH=$$arch go build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/hybridnode-linux-$$arch ./cmd/hybridnode || exit 1; \
	  GOOS=linux GOARCH=$$arch go build -trimpath -ldflags '$(LDFLAGS) -X main.releaseURL=$(RELEASE_URL)' -o $(BIN)/hybridnode-cluster-linux-$$arch ./cmd/hybridnode-cluster || exit 1; \
	  size=$$(stat -c %s $(BIN)/hybridnode-linux-$$arch); \
	  if [ "$$size" -gt $(NODE_BINARY_MAX) ]; then echo "hybridnode-linux-$$arch is $$size bytes, over the node binary budget of $(NODE_BINARY_MAX)" >&2; exit 1; fi; \
	done
	@ls -l $(BIN)/

.PHONY: test
test: ## unit and integration tests (no root, no network beyond loopback)
	go vet ./...
	@test -z "$$(gofmt -l cmd bootstrap kubelet assets packaging)" || { echo "gofmt needed:"; gofmt -l cmd bootstrap kubelet assets packaging; exit 1; }
	go test -count=1 ./...

# A tracked file outside testdata/ may be neither an ELF binary nor over this
# many bytes (1 MB): build outputs and downloads are not committed.
TRACKED_FILE_MAX := 1000000

.PHONY: lint-files
lint-files: ## tracked files outside testdata/ directories: no ELF binary, none over 1 MB; lists the offenders
	@echo "tracked files (no ELF, none over $(TRACKED_FILE_MAX) bytes, outside testdata/)"; \
	elf=$$(printf '\177ELF'); rc=0; \
	while IFS= read -r -d '' f; do \
	  case "/$$f" in */testdata/*) continue;; esac; \
	  [ -f "$$f" ] && [ ! -L "$$f" ] || continue; \
	  if [ "$$(head -c 4 "$$f")" = "$$elf" ]; then echo "  ELF binary: $$f"; rc=1; fi; \
	  size=$$(stat -c %s "$$f"); \
	  if [ "$$size" -gt $(TRACKED_FILE_MAX) ]; then echo "  over $(TRACKED_FILE_MAX) bytes ($$size): $$f"; rc=1; fi; \
	done < <(git ls-files -z); \
	exit $$rc

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet, staticcheck (pinned), shellcheck (when installed) and the tracked files (lint-files); lists every finding
	@rc=0; \
	$(MAKE) --no-print-directory lint-files || rc=1; \
	echo "gofmt -l"; files=$$(gofmt -l $$(go list -f '{{.Dir}}' ./...) | sort -u); \
	if [ -n "$$files" ]; then echo "$$files" | sed 's/^/  needs gofmt: /'; rc=1; fi; \
	echo "go vet ./..."; go vet ./... || rc=1; \
	echo "staticcheck ./... ($(STATICCHECK_VERSION))"; $(STATICCHECK) ./... || rc=1; \
	if command -v shellcheck >/dev/null; then \
	  echo "shellcheck packaging/"; \
	  shellcheck -s sh packaging/add-node.sh.in packaging/*.sh packaging/scripts/*.sh || rc=1; \
	else echo "shellcheck: not installed, skipped (apt-get install -y shellcheck)"; fi; \
	exit $$rc

.PHONY: e2e-lint
e2e-lint: ## the e2e harness, not run: bash -n and shellcheck on each script, then run.sh cases (checks and prints the case registry; no root)
	@rc=0; for f in e2e/*.sh e2e/lib/*.sh e2e/cases/*.sh e2e/bench/*.sh; do \
	  bash -n "$$f" || rc=1; shellcheck -x -P e2e "$$f" || rc=1; \
	done; \
	bash e2e/run.sh cases >/dev/null || rc=1; \
	exit $$rc

.PHONY: bench
bench: e2e-prepare ## benchmarks that print figures: Go benchmarks, the cold-install table (e2e/bench/install.sh), the scale-out table (root)
	go test -run '^$$' -bench . -benchmem ./...
	bash e2e/bench/install.sh
	bash e2e/run.sh scale

# Each fuzz target runs for FUZZTIME; the seeds (f.Add) and the committed
# corpus (testdata/fuzz/<target>/) also run in `make test`. A failing target
# prints its whole output, with the input the fuzzer wrote under testdata/fuzz/
# (commit it as a regression seed once the fix is in); every target runs, and
# the make fails when any did. A target that fails without writing an input
# (the fuzzer's own failure, not a finding) is run once more.
FUZZTIME ?= 20s
FUZZ_TARGETS := ./bootstrap/config:FuzzParseLabels ./bootstrap/config:FuzzParseTaints \
	./bootstrap/config:FuzzProviderID ./bootstrap/config:FuzzLoadFile \
	./bootstrap/artifact:FuzzParseSums ./bootstrap/tokenservice:FuzzVerify
# fuzz-check (in make check, so CI runs it) fuzzes every target this long,
# starting from the committed corpus.
FUZZ_CHECK_TIME ?= 30s

.PHONY: fuzz
fuzz: ## run every fuzz target for FUZZTIME (default 20s) each; prints the executions, or a failure whole with its input
	@failed=; start=$$(date +%s); for t in $(FUZZ_TARGETS); do pkg=$${t%%:*} name=$${t##*:}; \
	  echo "== $$name ($$pkg, $(FUZZTIME))"; \
	  out=$$(go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg 2>&1); rc=$$?; \
	  if [ $$rc -ne 0 ] && ! printf '%s\n' "$$out" | grep -q 'Failing input written to'; then \
	    printf '%s\n' "$$out" | grep -vE '^fuzz: elapsed: [0-9hms.]+, (execs|gathering|minimizing)' | tail -5; \
	    echo "   $$name failed without writing a failing input (the fuzzer's own failure, as in golang/go#56238): once more"; \
	    out=$$(go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 10s $$pkg 2>&1); rc=$$?; \
	  fi; \
	  if [ $$rc -eq 0 ]; then \
	    printf '%s\n' "$$out" | grep -E 'fuzz: elapsed.*execs' | tail -1 | \
	      awk '{ e = $$3; sub(/,$$/, "", e); s = 0; \
	             if (match(e, /[0-9]+h/)) s += 3600 * substr(e, RSTART, RLENGTH - 1); \
	             if (match(e, /[0-9]+m/)) s += 60 * substr(e, RSTART, RLENGTH - 1); \
	             if (match(e, /[0-9.]+s/)) s += substr(e, RSTART, RLENGTH - 1); \
	             n = $$5; sub(/,$$/, "", n); \
	             printf "   %s executions in %s (%d/s)\n", n, e, (s > 0 ? n / s : 0) }'; \
	    printf '%s\n' "$$out" | grep -E '^(ok|PASS)' | tail -1; \
	  else \
	    failed="$$failed $$name"; \
	    printf '%s\n' "$$out" | grep -vE '^fuzz: elapsed: [0-9hms.]+, (execs|gathering|minimizing)'; \
	    input=$$(printf '%s\n' "$$out" | sed -n 's/.*Failing input written to \(testdata\/fuzz\/[^ ]*\).*/\1/p' | tail -1); \
	    if [ -n "$$input" ]; then \
	      echo "-- failing input: $${pkg#./}/$$input (re-run: go test -run '^$$name/$${input##*/}\$$' $$pkg)"; \
	      cat "$$pkg/$$input"; \
	    fi; \
	  fi; \
	done; \
	echo "== $$(( $$(date +%s) - start ))s for $(words $(FUZZ_TARGETS)) targets"; \
	if [ -n "$$failed" ]; then echo "fuzz: FAILED:$$failed" >&2; exit 1; fi

.PHONY: fuzz-check
fuzz-check: ## CI's fuzzing: every fuzz target for FUZZ_CHECK_TIME (default 30s) each, from the committed corpus
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZ_CHECK_TIME)

.PHONY: check
check: test fuzz-check e2e ## everything CI runs: unit tests, every fuzz target for FUZZ_CHECK_TIME, then the real-cluster e2e (root; .ci/run calls this)

.PHONY: e2e-prepare
e2e-prepare: ## build or reuse the e2e inputs: Kubernetes, containerd, images, node template (cached in HN_CACHE)
	bash e2e/build/prepare.sh

.PHONY: e2e
e2e: e2e-prepare ## real-cluster test: control plane + systemd-nspawn nodes joined by hybridnode (root)
	bash e2e/run.sh test

.PHONY: demo
demo: e2e-prepare ## set everything up and join one node to the embedded cluster (root); tear down with make down
	bash e2e/run.sh demo

.PHONY: down
down: ## tear down what demo or an interrupted e2e left
	bash e2e/run.sh down

.PHONY: package
package: build $(NFPM) ## .deb and .rpm for linux/amd64 and linux/arm64 in dist/ (nfpm.yaml, nfpm pinned)
	@mkdir -p $(DIST)
	@rm -f $(DIST)/*.deb $(DIST)/*.rpm
	@for arch in $(ARCHES); do for packager in deb rpm; do \
	  GOARCH=$$arch PKG_VERSION='$(PKG_VERSION)' SOURCE_DATE_EPOCH='$(SOURCE_DATE_EPOCH)' \
	    $(NFPM) pkg --config nfpm.yaml --packager $$packager --target $(DIST)/ || exit 1; \
	done; done

.PHONY: package-check
package-check: package ## check the packages' files, modes, config files and scripts with dpkg-deb and rpm
	sh packaging/check-packages.sh $(DIST) $(BIN) $(ARCHES)

.PHONY: release
release: build package package-check ## BASE_URL=https://... : dist/ = binaries, packages, add-node.sh, SHA256SUMS, README
	@set -e; \
	base='$(RELEASE_URL)'; \
	rm -f $(DIST)/hybridnode-linux-* $(DIST)/hybridnode-cluster-linux-* $(DIST)/add-node.sh $(DIST)/README $(DIST)/SHA256SUMS; \
	for arch in $(ARCHES); do cp $(BIN)/hybridnode-linux-$$arch $(BIN)/hybridnode-cluster-linux-$$arch $(DIST)/; done; \
	sum() { if [ -f "$(DIST)/hybridnode-linux-$$1" ]; then s=$$(sha256sum < "$(DIST)/hybridnode-linux-$$1"); echo "$${s%% *}"; \
	        else echo "make release: no hybridnode-linux-$$1 (ARCHES must include amd64 and arm64)" >&2; exit 1; fi; }; \
	amd64=$$(sum amd64); arm64=$$(sum arm64); \
	sh packaging/render.sh packaging/add-node.sh.in "$$base" '$(VERSION)' "$$amd64" "$$arm64" > $(DIST)/add-node.sh.tmp; \
	mv $(DIST)/add-node.sh.tmp $(DIST)/add-node.sh; chmod 0755 $(DIST)/add-node.sh; \
	sh packaging/render.sh packaging/dist-README.in "$$base" '$(VERSION)' "$$amd64" "$$arm64" > $(DIST)/README; \
	cd $(DIST) && sha256sum hybridnode-linux-* hybridnode-cluster-linux-* *.deb *.rpm add-node.sh README > SHA256SUMS; \
	echo; echo "hybridnode $(VERSION) for $$base:"; ls -l
	@echo "upload $(DIST)/ to $(RELEASE_URL)/, then: hybridnode-cluster setup --artifact-url <Kubernetes artifacts> --script-url <private URL> (see $(DIST)/README)"

.PHONY: tools
tools: $(STATICCHECK) $(NFPM) ## install the pinned tools (staticcheck, nfpm) into .tools/

$(STATICCHECK):
	@mkdir -p $(TOOLS)/.gobin
	GOBIN=$(TOOLS)/.gobin go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/.gobin/staticcheck $@

$(NFPM):
	@mkdir -p $(TOOLS)/.gobin
	GOBIN=$(TOOLS)/.gobin go install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)
	mv $(TOOLS)/.gobin/nfpm $@

.PHONY: clean
clean: ## remove build outputs (bin/, dist/); the pinned tools in .tools/ stay (rm -rf .tools)
	rm -rf $(BIN) $(DIST)
