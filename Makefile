# pibake — see README.md. The two set-up commands: `make demo`, `make test`.

GO      ?= go
BIN     := bin/pibake
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
DEMO    := demo

# What the tests use: real e2fsprogs/dosfstools to judge images, debootstrap
# for a throw-away Debian host, OpenSSH's sshd, git and python3 for ops,
# qemu-system-x86 to boot a Pi-shaped amd64 machine (image/imagetest/vm).
APT_PACKAGES := e2fsprogs dosfstools mtools fdisk xz-utils openssh-server \
	debootstrap systemd-container git python3 python3-venv locales passwd iproute2 \
	qemu-system-x86

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps vet cross demo bench clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pibake

# deps installs the test tools that are missing (Debian/Ubuntu).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "make: installing test tools:$$missing"; \
		$(SUDO) apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

vet:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...

# cross checks that pibake still builds for every platform it ships on,
# and that the code for other systems passes vet.
cross:
	@for p in darwin/amd64 darwin/arm64 windows/amd64 linux/arm64 linux/arm; do \
		echo "go build $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} GOARM=6 CGO_ENABLED=0 $(GO) build -o /dev/null ./cmd/pibake || exit 1; \
	done
	GOOS=darwin $(GO) vet ./...
	GOOS=windows $(GO) vet ./...

test: deps vet cross build
	$(GO) test -timeout 30m ./...

# demo applies the example robot recipe to a fresh Pi-OS-shaped root
# directory, showing the plan before and after.
demo: build
	@rm -rf $(DEMO) && $(GO) run ./testdata/mkroot $(DEMO)/root
	@echo "== pibake check recipes/examples/robot.star"
	@$(BIN) check recipes/examples/robot.star
	@echo; echo "== pibake plan (a fresh Raspberry Pi OS root: changes pending, exit 2)"
	@$(BIN) plan recipes/examples/robot.star --target dir:$(DEMO)/root --secrets recipes/examples/robot.env; \
		test $$? -eq 2
	@echo; echo "== pibake apply"
	@$(BIN) apply recipes/examples/robot.star --target dir:$(DEMO)/root --secrets recipes/examples/robot.env
	@echo; echo "== pibake plan again (in state, exit 0; commands wait for the Pi: deferred)"
	@$(BIN) plan recipes/examples/robot.star --target dir:$(DEMO)/root --secrets recipes/examples/robot.env --show-ok
	@echo; echo "demo root: $(DEMO)/root"

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin $(DEMO)
