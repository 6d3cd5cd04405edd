# kindlike: build, test, benchmarks and images. Everything a fresh machine needs is
# installed by these targets (Go tools through the module proxy, Debian packages
# through apt), never by hand.

SHELL := /bin/bash
GO ?= go
BIN := bin/kindlike
KINDLIKE_VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
K8S_MODULE_VERSION := $(shell $(GO) list -m -f '{{.Version}}' k8s.io/client-go)
K8S_VERSION := v1.$(patsubst v0.%,%,$(K8S_MODULE_VERSION))
K8S_MINOR := $(word 2,$(subst ., ,$(K8S_VERSION)))
LDFLAGS := -s -w \
	-X github.com/kindlike/kindlike/version.Kindlike=$(KINDLIKE_VERSION) \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=$(K8S_MINOR) \
	-X k8s.io/component-base/version.gitTreeState=clean
STATICCHECK_VERSION := v0.8.2
GOTEST_TIMEOUT ?= 80m

.PHONY: all build test unit e2e lint fuzz bench cluster node-image clean generate images offline-images clean-images

all: build

# The static binary: host CLI, control plane, node agent and load balancer in one.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/kindlike

# The whole suite, e2e included (e2e needs a running Docker daemon and fails loudly without).
# The offline images come first: the image tests and e2e run them.
test: build lint offline-images
	# One package at a time: the integration and e2e tests measure failover timing,
	# which 2 cores shared by several clusters at once would distort.
	KINDLIKE_BIN=$(CURDIR)/$(BIN) $(GO) test -p 1 -count=1 -timeout $(GOTEST_TIMEOUT) ./...

# Only the end-to-end tests: real clusters on the local Docker.
e2e: build images
	KINDLIKE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -timeout 30m -v ./e2e/

# Unit and integration tests without Docker.
unit: build
	KINDLIKE_BIN=$(CURDIR)/$(BIN) $(GO) test -count=1 -short ./...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

FUZZTIME ?= 20s
fuzz:
	$(GO) test ./controlplane/store/ -run '^$$' -fuzz FuzzCommandDecode -fuzztime $(FUZZTIME)
	$(GO) test ./controlplane/apiserver/ -run '^$$' -fuzz FuzzDecodeRequest -fuzztime $(FUZZTIME)

bench: build
	KINDLIKE_BIN=$(CURDIR)/$(BIN) $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 60m ./...

# A cluster from this tree, with the images the tutorials use: `make cluster`, or with flags: make cluster ARGS="--nodes 3 --name demo".
ARGS ?=
cluster: build offline-images
	$(BIN) create cluster $(ARGS)

# The node image of bin/kindlike, as create cluster builds it (through the Docker API,
# FROM scratch, tagged by the binary's hash; nothing is pulled).
node-image: build
	$(BIN) build node-image

# kindlike's own images, from images/pause and images/simple-service (FROM scratch).
images:
	GO=$(GO) images/build.sh images

# Local stand-ins for the public images the tutorials name (README: Offline images).
# Only names the engine lacks are built; a real image is never replaced. Downloads
# and root filesystems are cached in _output/images, so a rerun takes seconds.
offline-images: images
	GO=$(GO) images/build.sh offline

# Removes _output/images and every image the two targets above built.
clean-images:
	images/build.sh clean

# Removes bin/ and the node images kindlike built (those still used by a cluster stay).
clean:
	rm -rf bin
	-docker images -q --filter label=kindlike=true | sort -u | xargs -r docker rmi 2>/dev/null
