# tincan: a container, one kernel feature at a time.
#
#   make                 build every step into bin/ (09-full is bin/can)
#   make test            run every module's tests (without root, the rootless ones; SUDO=1 all, through sudo)
#   make test STEP=05-pid   one step only
#   TINCAN_ENGINES=1 make test   also drive podman, containerd and docker against runc (pkg/testenv/engine, ~2 min, root)
#   make unit            the tests that need no root (go test -short), also as root
#   make race            the same tests under the race detector (go test -race -short; needs cgo)
#   make vet             go vet, gofmt, staticcheck and go mod tidy -diff on every module
#   make vmtest          the privileged tests again, on a cgroup v2 host in qemu (root)
#   make vmbench         what limits cost on that cgroup v2 host (root)
#   make rootfs          a busybox root filesystem in ./rootfs (TAR=x.tar.gz imports one)
#   make bench           startup time, can against runc, crun, bwrap, unshare
#   make conformance     the OCI runtime-tools validation suite, can against runc (RUN=regexp, V=can)
#   make doctor          what this machine lets the lessons do, with a fix per line
#   make exercise STEP=05-pid   the course: cut the step's feature out (solution puts it back)
#   make check [STEP=05-pid]    say in words what works and what the kernel still needs
#   make diff STEP=05-pid       the step against the one before: one feature out, the next in

GO      ?= go
STEPS   := $(sort $(wildcard [0-9][0-9]-*))
MODULES := pkg pkg/image $(STEPS)
# pkg/image needs Go 1.25 (go-containerregistry) and stays out of go.work, so
# that the workspace keeps Go 1.22: the go command sees it with GOWORK=off.
GOWORK_OF = $$([ $$m = pkg/image ] && echo GOWORK=off)
# Without root, the tests run as you: the rootless ones run, the others skip
# saying why. SUDO=1 runs them through sudo: build as yourself, run as root
# (no root-owned Go caches, no "sudo: go: command not found").
SUDO ?=
SUDO_EXEC := $(if $(filter 0,$(shell id -u)),,$(if $(filter 1,$(SUDO)),-exec sudo))
TESTFLAGS ?=

.PHONY: all build test unit race rootfs bench clean vet
all: build

# Static binaries (CGO_ENABLED=0): no dynamic loader to run at each of the
# two starts a container costs (the parent, then the re-executed child).
build:
	@mkdir -p bin
	@for s in $(STEPS); do \
		out=bin/$$s; [ $$s = 09-full ] && out=bin/can; \
		echo "CGO_ENABLED=0 go build -o $$out ./$$s"; CGO_ENABLED=0 $(GO) build -o $$out ./$$s || exit 1; \
	done
	cd pkg/image && GOWORK=off CGO_ENABLED=0 $(GO) build -o ../../bin/can-image ./cmd/can-image

# -p 1: one test binary at a time, so each run's check that it left nothing on
# the host (pkg/testenv) is not confused by another package's cgroups.
test:
	@set -e; for m in $(if $(STEP),$(STEP),$(MODULES)); do \
		echo "== $$m"; (cd $$m && env $(GOWORK_OF) $(GO) test -p 1 $(SUDO_EXEC) $(TESTFLAGS) ./...); \
	done

# The privileged tests on the kind of host most students have: only cgroup2
# mounted, "/" rshared as systemd makes it. pkg/cmd/vmtest boots Debian's
# kernel (/boot/vmlinuz-*) in qemu, with TCG (no KVM needed), from an
# initramfs it builds. As root, after apt-get install qemu-system-x86
# linux-image-amd64 busybox-static (and the tools the lessons use). About two
# minutes here: every package with privileged tests but pkg/course (which
# needs go and git), less one transcript whose output is the host kernel's:
# 01-net's link.ct (Debian 12's kernel still says DOWN for a veth just set
# up), and less 09-full's slowest tests of what no cgroup version or
# propagation changes (flag refusals, the terminal, seccomp, twenty bridged
# starts, signal timing): under TCG they cost minutes, and make test runs them.
# Words are DIR[=RUN][!SKIP], the -test.run and -test.skip patterns.
VMTESTS ?= pkg/cgroup pkg/testenv pkg/mount pkg/network pkg/harden pkg/cmd/probe pkg/reexec \
	pkg/ns pkg/userns pkg/rootfs pkg/layers pkg/doctor \
	01-net!^TestTranscripts$$/^testdata/link$$ 02-mnt 03-uts 04-ipc 05-pid 06-user 07-pivotroot 08-cgroup \
	09-full!^(TestRefusedInput|TestHelp|TestBridgeTwentyAtOnce|TestSeccompAllowlist|TestTerminal.*|TestCtrlCOnceWithoutPty|TestSIGTERMDuringStartupInit)$$
.PHONY: vmtest vmbench
vmtest:
	$(GO) run ./pkg/cmd/vmtest $(foreach t,$(VMTESTS),'$(t)')

# What limits cost on cgroup v2, in the same VM: a child born in its cgroup
# (clone3 CLONE_INTO_CGROUP) against one moved there, and can with and
# without --memory --cpus --pids. TCG makes every figure slower than on a
# laptop; compare the rows of one run.
vmbench:
	$(GO) run ./pkg/cmd/vmtest -bench 'Join|Limits' 'pkg/cgroup=^$$' '09-full=^$$'

# -short: testenv.NeedRoot skips every test that needs root, even when run
# as root, so unit means the same set for everyone (pkg/course's slowest
# builds skip with -short too). As root the rest still run in testenv's
# sandbox.
unit:
	@set -e; for m in $(MODULES); do (cd $$m && env $(GOWORK_OF) $(GO) test -short $(TESTFLAGS) ./...); done

# The unit tests again with the race detector, which needs cgo (a C
# compiler): the binaries the tests build are still static, and unraced.
# About 3 minutes the first time (the race runtime and every dependency are
# built again), then a minute.
race:
	@set -e; for m in $(MODULES); do (cd $$m && env $(GOWORK_OF) CGO_ENABLED=1 $(GO) test -race -short $(TESTFLAGS) ./...); done

# staticcheck comes from the Go module proxy, built once into Go's cache
# (it needs Go 1.25 or later; make vet STATICCHECK=true skips it). go mod
# tidy -diff fails when a go.mod or go.sum is not what go mod tidy makes.
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2
vet:
	@set -e; for m in $(MODULES); do echo "== $$m"; (cd $$m && \
		env $(GOWORK_OF) $(GO) vet ./... && \
		f=$$(gofmt -l .) && { [ -z "$$f" ] || { echo "gofmt -l: $$f"; exit 1; }; } && \
		env $(GOWORK_OF) $(STATICCHECK) ./... && \
		env $(GOWORK_OF) $(GO) mod tidy -diff); done

# The course (pkg/course). FORCE=1 lets exercise/solution replace local
# changes to main.go; a copy is kept in .course/STEP/ first.
COURSE = $(GO) build -o bin/course ./pkg/cmd/course && bin/course
.PHONY: exercise solution check diff doctor
exercise solution:
	@$(COURSE) $@ $(if $(filter 1,$(FORCE)),-force) $(STEP)

check diff:
	@$(if $(filter 1,$(SUDO)),TINCAN_SUDO=1 )$(COURSE) $@ $(STEP)

doctor:
	@$(GO) build -o bin/doctor ./pkg/cmd/doctor && bin/doctor

# A root filesystem in ./rootfs: busybox from busybox-static, offline, or the
# contents of TAR (alpine-minirootfs-*.tar.gz, docker export > x.tar).
rootfs:
	rm -rf rootfs
	$(GO) run ./pkg/cmd/mkrootfs $(if $(TAR),-tar $(TAR) )rootfs

clean:
	rm -rf bin

# Startup time of can against runc, crun, bwrap and unshare, one busybox rootfs.
bench: build
	@[ -d rootfs ] || $(MAKE) rootfs
	$(GO) build -o bin/bench ./pkg/cmd/bench
	$(if $(filter 0,$(shell id -u)),,$(if $(filter 1,$(SUDO)),sudo ,$(error make bench needs root: make bench SUDO=1)))bin/bench -can bin/can -rootfs rootfs

# The OCI runtime-tools validation suite (third_party/runtime-tools, built
# once into ~/.cache/tincan), can against runc in one run: docs/CONFORMANCE.md.
# RUNTIMES=can=bin/can,runc,crun adds crun; RUN=regexp runs some programs;
# V=can lists can's failing assertions.
RUNTIMES ?= can=bin/can,runc
.PHONY: conformance
conformance: build
	$(GO) build -o bin/conformance ./pkg/cmd/conformance
	$(if $(filter 0,$(shell id -u)),,$(if $(filter 1,$(SUDO)),sudo ,$(error make conformance needs root: make conformance SUDO=1)))bin/conformance -runtimes '$(RUNTIMES)'$(if $(RUN), -run '$(RUN)')$(if $(V), -v '$(V)')
