# tiktok-events-worker — every developer and CI entry point.
GO            ?= go
STATICCHECK   := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PKGS          := ./...
BIN           := bin/worker
VERSION       ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS       := -s -w -X main.version=$(VERSION)
FUZZTIME      ?= 10s
WORKER_IMAGE  ?= tiktok-events-worker:dev
NATS_IMAGE    ?= tiktok-events-nats:dev
BENCHTIME     ?= 1s

.PHONY: build test lint fmt-check vet unit deploy-check bench fuzz demo clean docker docker-test docker-cluster-test compose-up compose-down

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/worker

## test: everything CI checks — formatting, vet, the pinned linter and the race-enabled suite.
test: fmt-check vet lint unit deploy-check

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

lint:
	$(GO) run $(STATICCHECK) $(PKGS)

unit:
	$(GO) test -race -count=1 -timeout 15m $(PKGS)

## deploy-check: the deploy/ module (its own go.mod): the Helm chart rendered and decoded
## strictly, the NATS roles against a real server, the alert rules and the dashboard.
deploy-check:
	cd deploy && $(GO) vet ./...
	cd deploy && $(GO) run $(STATICCHECK) ./...
	cd deploy && $(GO) test -race -count=1 -timeout 10m ./...

## bench: the speed and memory figures reported in docs/performance.md.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -benchtime $(BENCHTIME) ./pkg/... ./internal/... ./cmd/...
	$(GO) test -run '^$$' -bench Soak -benchtime 1x ./test/soak/

## fuzz: each fuzz target for FUZZTIME (go test -fuzz takes one target at a time).
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for t in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$t"; \
	    $(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

demo:
	$(GO) run ./cmd/worker demo

clean:
	rm -rf bin data

## docker: the worker image and a nats-server image, FROM scratch (no registry needed).
docker: build
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '-s -w' -o bin/nats-server github.com/nats-io/nats-server/v2
	cp /etc/ssl/certs/ca-certificates.crt bin/ca-certificates.crt
	mkdir -p bin/docker-data
	docker build --build-arg VERSION=$(VERSION) -t $(WORKER_IMAGE) .
	docker build -f test/docker/nats.Dockerfile -t $(NATS_IMAGE) .

## docker-test: build both images and run the compose pipeline end to end.
docker-test:
	DOCKER_TESTS=1 WORKER_IMAGE=$(WORKER_IMAGE) NATS_IMAGE=$(NATS_IMAGE) $(GO) test -count=1 -timeout 15m -v ./test/docker/

## docker-cluster-test: only the chaos test of deploy/compose (3 JetStream nodes, two
## replicas): stops the rows stream's leader and a worker mid-backlog (also in docker-test).
docker-cluster-test:
	DOCKER_TESTS=1 WORKER_IMAGE=$(WORKER_IMAGE) NATS_IMAGE=$(NATS_IMAGE) $(GO) test -count=1 -timeout 15m -v -run TestClusterSurvivesLosingANode ./test/docker/

## compose-up: build both images FROM scratch on the host (no registry), then start
## docker-compose.yml with whichever Compose exists (v2 `docker compose` or v1
## `docker-compose`; COMPOSE=… overrides). compose-down stops it and drops its volume.
compose-up: docker
	NATS_IMAGE=$(NATS_IMAGE) WORKER_IMAGE=$(WORKER_IMAGE) sh scripts/compose.sh up -d
	@echo "up: NATS on 127.0.0.1:4222, the sandbox on 127.0.0.1:9090, the two replicas' /readyz and /metrics on 127.0.0.1:8081 and 8082"

compose-down:
	NATS_IMAGE=$(NATS_IMAGE) WORKER_IMAGE=$(WORKER_IMAGE) sh scripts/compose.sh down -v
