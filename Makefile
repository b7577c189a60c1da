# pibake — see README.md. The two set-up commands: `make demo`, `make test`.

GO      ?= go
BIN     := bin/pibake
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -X main.version=$(VERSION)
DEMO    := demo

# What the tests use: real e2fsprogs/dosfstools to judge images, debootstrap
# for a throw-away Debian host, OpenSSH's sshd, git and python3 for ops,
# qemu-system-x86 to boot a Pi-shaped amd64 machine (image/imagetest/vm),
# qemu-user-static to run the ARM first-boot agents on ARM CPUs.
APT_PACKAGES := e2fsprogs dosfstools mtools fdisk xz-utils openssh-server \
	debootstrap systemd-container git python3 python3-venv locales passwd iproute2 \
	qemu-system-x86 qemu-user-static bmap-tools

# What `make bench` adds: Ansible, timed against pibake by BenchmarkNoopSSH.
BENCH_APT_PACKAGES := ansible

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all build test deps bench-deps apt-install vet cross demo bench clean

all: build

# The first-boot agents are pibake itself, cross-built static for each
# Raspberry Pi OS architecture (and amd64, for tests in a VM), compressed
# with xz and embedded in bin/pibake (-tags pibake_agents). xz, not gzip:
# measured on the arm64 agent, 5.4 MB → 1.6 MB with xz -9 against 2.1 MB
# with gzip -9 (1.6 MB less in bin/pibake for the three); decompressing
# the one agent a bake needs costs a fraction of a second. An 8 MiB
# dictionary holds a whole agent, so it compresses as well as -9's 64 MiB
# and the decoder allocates only 8 MiB. They are
# rebuilt only when a Go source, go.mod or go.sum is newer.
AGENTS_DIR     := image/firstboot/agents
AGENTS_ARCHES  := arm64 armv6 amd64
AGENTS         := $(AGENTS_ARCHES:%=$(AGENTS_DIR)/pibake-linux-%.xz)
AGENTS_SOURCES := $(shell find cmd image ops recipes reconcile firmware -name '*.go' ! -name '*_test.go' 2>/dev/null) go.mod go.sum
AGENTS_GOARCH_arm64 := GOARCH=arm64
AGENTS_GOARCH_armv6 := GOARCH=arm GOARM=6
AGENTS_GOARCH_amd64 := GOARCH=amd64

build: $(AGENTS)
	CGO_ENABLED=0 $(GO) build -trimpath -tags pibake_agents -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/pibake

$(AGENTS_DIR)/pibake-linux-%.xz: $(AGENTS_SOURCES)
	@mkdir -p $(AGENTS_DIR)
	@echo "agent linux/$*"
	@GOOS=linux $(AGENTS_GOARCH_$*) CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" \
		-o $(AGENTS_DIR)/pibake-linux-$* ./cmd/pibake
	@xz --lzma2=preset=9,dict=8MiB -T1 -f $(AGENTS_DIR)/pibake-linux-$*

# deps installs the test tools that are missing (Debian/Ubuntu);
# bench-deps, those and the benchmarks' own.
deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

bench-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES) $(BENCH_APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
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

# demo bakes the example robot recipe into a generated Raspberry Pi
# OS-shaped base image (.img.xz, as Raspberry Pi publishes them), then shows
# that a plan against the baked image is in state.
demo: build
	@rm -rf $(DEMO) && mkdir -p $(DEMO)
	@echo "== making a Raspberry Pi OS-shaped base image: $(DEMO)/base.img.xz"
	@$(GO) build -o bin/mkimage ./testdata/mkimage
	@$(SUDO) bin/mkimage $(DEMO)/base.img.xz
	@[ -z "$(SUDO)" ] || $(SUDO) chown "$$(id -u):$$(id -g)" $(DEMO)/base.img.xz
	@echo; echo "== pibake check recipes/examples/robot.star"
	@$(BIN) check recipes/examples/robot.star
	@echo; echo "== pibake bake recipes/examples/robot.star --from $(DEMO)/base.img.xz --out $(DEMO)/robot.img"
	@$(BIN) bake recipes/examples/robot.star --from $(DEMO)/base.img.xz --out $(DEMO)/robot.img --secrets recipes/examples/robot.env
	@echo; echo "== pibake plan --target image:$(DEMO)/robot.img (in state, exit 0; apt and pip wait for the first boot: deferred)"
	@$(BIN) plan recipes/examples/robot.star --target image:$(DEMO)/robot.img --secrets recipes/examples/robot.env --show-ok
	@echo; echo "== what the first boot will run"
	@$(BIN) image ls $(DEMO)/robot.img /etc/pibake
	@$(BIN) image cat $(DEMO)/robot.img /etc/systemd/system/pibake-firstboot.service
	@echo; echo "baked image: $(DEMO)/robot.img (base left untouched: $(DEMO)/base.img.xz)"

# bench runs every benchmark; the first run builds and caches a 1.5 GiB
# Pi-OS-shaped .img.xz (xz -6: minutes). BenchmarkBakeXZ and
# BenchmarkCopyBaseXZ print their time next to xz -dc's on the same file,
# in the same run (x-xz-dc: the ratio). BenchmarkNoopSSH times a no-op
# plan over ssh at 0 and 25 ms RTT next to `ssh true` and Ansible's no-op
# run of the same recipe (x-ansible: the ratio); Ansible takes 10-17 s a
# run, so it runs a fixed, small number of times (about 2 minutes in all).
# BenchmarkFlash writes that image to a loop device with pibake flash,
# bmaptool copy (with its bmap) and dd, reporting each one's time and the
# bytes the kernel counted written (x-bmaptool, x-dd: ratios to pibake).
# BenchmarkBakeToCard writes the baked image to a loop device by bake --out
# then flash, and by bake --device with no image file (x-out-flash: ratio).
BENCH_NOOP_SSH_TIMES ?= 3x

bench: bench-deps
	$(GO) test -timeout 60m -run '^$$' -bench . -skip '^BenchmarkNoopSSH$$' -benchmem ./...
	$(GO) test -timeout 20m -run '^$$' -bench '^BenchmarkNoopSSH$$' -benchtime $(BENCH_NOOP_SSH_TIMES) -v ./reconcile/ssh

clean:
	rm -rf bin $(DEMO)
