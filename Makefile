# The README's commands. `make test` is what CI runs (.ci/run).
GO ?= go

.PHONY: run build test test-short vet fuzz bench

run:
	$(GO) run ./cmd/petrel serve

build:
	$(GO) build -o petrel ./cmd/petrel

vet:
	$(GO) vet ./...
	cd compat && $(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

# Unit, crash and race tests of the module, then the compatibility suite
# that drives a real petrel process with the official RocketMQ Go client.
test: vet
	$(GO) test -race -count=1 ./...
	cd compat && $(GO) test -count=1 ./...

test-short:
	$(GO) test -short -count=1 ./...

# Each fuzz target for FUZZTIME (go test -fuzz runs one target at a time).
FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

bench:
	$(GO) test -run '^$$' -bench . -benchtime 3s ./internal/store/
	cd compat && $(GO) test -run '^$$' -bench . ./...
