# tcptune — build, test, run. `make help` lists the targets.
# Layout: the agent in three layers, each using only those below it (cmd -> runtime -> core):
#   agent/cmd/      main() and the subcommands: options, output
#   agent/runtime/  what reaches the kernel or a library: BPF, maps, sysctls, files, HTTP, inih
#   agent/core/     pure C, unit-tested: estimates, budgets, parsing, formatting, metrics text
# core includes neither libbpf nor system headers (C standard ones, <linux/types.h>, tcptune.h,
# core/), runtime no cmd/ header (`make check-layers`). Includes name the layer: "core/parse.h".
ARCH ?= x86
CLANG ?= clang-14
BPFTOOL ?= bpftool
CC ?= cc
VERSION := 0.1.0

BUILD := build
LIBBPF_CFLAGS := $(shell pkg-config --cflags libbpf 2>/dev/null)
LIBBPF_LIBS := $(shell pkg-config --libs libbpf 2>/dev/null || echo -lbpf -lelf -lz)
MHD_LIBS := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)
INIH_LIBS := $(shell pkg-config --libs inih 2>/dev/null || echo -linih)

WARN := -Wall -Wextra -Werror
CFLAGS ?= -O2 -g
CFLAGS += $(WARN) -std=gnu11 -Iinclude -Iagent -I$(BUILD) $(LIBBPF_CFLAGS) -DTCPTUNE_VERSION=\"$(VERSION)\"
# `make sanitize` sets it: AddressSanitizer, UndefinedBehaviorSanitizer (and LeakSanitizer)
SAN_FLAGS ?=
CFLAGS += $(SAN_FLAGS)
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) $(WARN) -Wno-unused-function -Wno-unused-parameter \
	-Ivmlinux/$(ARCH) -Iinclude -Ibpf

# tcptune: the agent's programs, one object and skeleton; bpf/tcptune.bpf.c
# includes one file per concern (BPF_PARTS).
# probe: minimal programs loaded one by one at start (agent/runtime/probe.c)
BPF_OBJS := tcptune probe
BPF_PARTS := $(patsubst %,bpf/%.bpf.c,track sockops iter)
SKELS := $(patsubst %,$(BUILD)/%.skel.h,$(BPF_OBJS))
CORE_SRCS := $(sort $(wildcard agent/core/*.c))
RUNTIME_SRCS := $(sort $(wildcard agent/runtime/*.c))
CMD_SRCS := $(sort $(wildcard agent/cmd/*.c))
AGENT_SRCS := $(CMD_SRCS) $(RUNTIME_SRCS) $(CORE_SRCS)
AGENT_HDRS := $(wildcard agent/*/*.h)
# objects keep their layer: build/core/parse.o
AGENT_OBJS := $(patsubst agent/%.c,$(BUILD)/%.o,$(AGENT_SRCS))
# what the unit tests link: core, and the two runtime modules they cover too
# (no system calls, but inih and socket addresses)
UNIT_SRCS := $(CORE_SRCS) agent/runtime/config.c agent/runtime/listen.c
UNIT_TESTS := $(patsubst tests/unit/%.c,$(BUILD)/%,$(wildcard tests/unit/test_*.c))
# BPF tests: the agent's programs on real sockets, as its loader and passes
# drive them (tests/bpf/); root only, run by tests/run-all.sh
BPF_TESTS := $(patsubst tests/bpf/%.c,$(BUILD)/%,$(wildcard tests/bpf/test_bpf_*.c))
# helpers the end-to-end tests run
TEST_TOOLS := $(BUILD)/btf_rename $(BUILD)/delayline $(BUILD)/load $(BUILD)/rpc
BENCH_TOOLS := $(BUILD)/load $(BUILD)/pingpong $(BUILD)/rpc

.PHONY: all deps run test unit bpf-tests check-layers format-check format e2e bench bench-load bench-load-100k bench-wan bench-noharm demo vmlinux clean help sanitize fuzz fuzz-build test-kernels
all: $(BUILD)/tcptune

help:
	@echo "make          build ./build/tcptune"
	@echo "make run      install what is missing, build, run the agent on the whole host"
	@echo "make test     install what is missing, build, run check-layers, unit and end-to-end tests"
	@echo "make bpf-tests the BPF programs on real sockets, asserted on the maps (tests/bpf/, root)"
	@echo "make check-layers the include rules of the agent's layers (core, runtime, cmd: Layout, top of the Makefile)"
	@echo "make format-check every C file against .clang-format (kernel style, 100 columns); make format rewrites them"
	@echo "make bench    overhead benchmark (agent vs no agent, ns per BPF event), then bench-load, bench-load-100k, bench-wan and bench-noharm"
	@echo "make bench-load agent CPU, RSS and tick at 10,000 connections and 5,000 new ones/s vs idle (bench/load.sh, ~6 min)"
	@echo "make bench-load-100k the same at 100,000 connections and 10,000 new ones/s (~9 min)"
	@echo "make bench-wan tcptune vs stock autotuning on emulated WAN paths (bench/wan.sh, ~35 min)"
	@echo "make bench-noharm no regression where stock autotuning does well: RPC, rate steps, veth, slow reader (bench/noharm.sh, ~25 min)"
	@echo "make demo     one emulated long fat path, stock vs tcptune side by side (~1 min)"
	@echo "make vmlinux  regenerate vmlinux/$(ARCH)/vmlinux.h from this kernel's BTF"
	@echo "make install  binary, systemd unit, man page, example config (PREFIX=/usr/local, DESTDIR=)"
	@echo "make sanitize unit and end-to-end tests with ASan + UBSan + LSan builds (build-asan/)"
	@echo "make test-kernels Debian 5.10, 6.1, 6.12 kernels under qemu: smoke checks, TESTS_IN_GUEST e2e tests (KERNELS= a subset)"
	@echo "make fuzz     libFuzzer on the config parser, CLI parsing and metrics endpoint, FUZZ_SECONDS (60) each (build-fuzz/)"

# Installs the Debian packages the build, tests and benchmarks use (root, Debian 12).
deps:
	@bash tests/install-deps.sh

$(BUILD):
	@mkdir -p $@

$(BUILD)/%.bpf.o: bpf/%.bpf.c $(wildcard bpf/*.bpf.h) include/tcptune.h | $(BUILD)
	$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(BUILD)/tcptune.bpf.o: $(BPF_PARTS)

$(BUILD)/%.skel.h: $(BUILD)/%.bpf.o
	$(BPFTOOL) gen skeleton $< name $*_bpf > $@

$(BUILD)/%.o: agent/%.c $(AGENT_HDRS) include/tcptune.h $(SKELS) | $(BUILD)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/tcptune: $(AGENT_OBJS)
	$(CC) $(CFLAGS) $^ -o $@ $(LIBBPF_LIBS) $(MHD_LIBS) $(INIH_LIBS) -lm

$(BUILD)/test_%: tests/unit/test_%.c $(UNIT_SRCS) $(AGENT_HDRS) | $(BUILD)
	$(CC) $(CFLAGS) $< $(UNIT_SRCS) -o $@ -lcmocka $(INIH_LIBS) -lm

# linked with the agent's objects from the archive: its loader and collector
BPF_TEST_FIXTURE := tests/bpf/fixture.c tests/bpf/fixture.h
$(BUILD)/test_bpf_%: tests/bpf/test_bpf_%.c $(BPF_TEST_FIXTURE) $(BUILD)/libtcptune.a
	$(CC) $(CFLAGS) -Itests/bpf $< tests/bpf/fixture.c $(BUILD)/libtcptune.a -o $@ -lcmocka \
		$(LIBBPF_LIBS) $(MHD_LIBS) $(INIH_LIBS) -lm

$(BUILD)/load: bench/load.c | $(BUILD)
	$(CC) $(CFLAGS) $< -o $@

$(BUILD)/pingpong: bench/pingpong.c | $(BUILD)
	$(CC) $(CFLAGS) $< -o $@

$(BUILD)/btf_rename: tests/tools/btf_rename.c | $(BUILD)
	$(CC) $(CFLAGS) $< -o $@ $(LIBBPF_LIBS)

# request/response and slow-reader traffic (bench/noharm.sh): libc only
$(BUILD)/rpc: tests/tools/rpc.c | $(BUILD)
	$(CC) $(CFLAGS) -pthread $< -o $@

# userspace delay line of the emulated WAN paths (tests/wan.sh): libc only
$(BUILD)/delayline: tests/tools/delayline.c | $(BUILD)
	$(CC) $(CFLAGS) -pthread $< -o $@

# The tests again with ASan + UBSan + LSan builds of the agent and unit tests
# (build-asan/); a sanitizer report fails it.
# float-cast-overflow: not in gcc's "undefined"; the estimator converts rates to sizes
SANITIZE_FLAGS := -fsanitize=address,undefined,float-cast-overflow -fno-omit-frame-pointer -fno-sanitize-recover=all
sanitize: deps all $(TEST_TOOLS)
	@$(MAKE) -s BUILD=build-asan SAN_FLAGS="$(SANITIZE_FLAGS)" build-asan/tcptune \
		$(patsubst $(BUILD)/%,build-asan/%,$(UNIT_TESTS) $(BPF_TESTS))
	@bash tests/run-sanitized.sh $(patsubst $(BUILD)/%,build-asan/%,$(UNIT_TESTS))

# libFuzzer targets (tests/fuzz/): clang-14, ASan + UBSan, in build-fuzz/.
# They link the agent's objects from an archive, main.c's with its main()
# renamed (libFuzzer has the main); fuzz_cli wraps argp_parse and exit to
# stop each command right after its options are parsed (tests/fuzz/fuzz_cli.c).
FUZZ_TARGETS := fuzz_config fuzz_cli fuzz_http
FUZZ_SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
FUZZ_SECONDS ?= 60
fuzz-build:
	@$(MAKE) -s BUILD=build-fuzz CC=$(CLANG) SAN_FLAGS="-fsanitize=fuzzer-no-link $(FUZZ_SANITIZE)" \
		$(patsubst %,build-fuzz/%,$(FUZZ_TARGETS))

fuzz: deps fuzz-build
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh $(FUZZ_TARGETS)

$(BUILD)/main_nomain.o: agent/cmd/main.c $(AGENT_HDRS) | $(BUILD)
	$(CC) $(CFLAGS) -Dmain=tcptune_main -c $< -o $@

$(BUILD)/libtcptune.a: $(filter-out $(BUILD)/cmd/main.o,$(AGENT_OBJS)) $(BUILD)/main_nomain.o
	rm -f $@ && ar rcs $@ $^

$(BUILD)/fuzz_cli: FUZZ_LDFLAGS := -Wl,--wrap=argp_parse,--wrap=exit
$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(BUILD)/libtcptune.a
	$(CC) $(CFLAGS) -fsanitize=fuzzer $< $(BUILD)/libtcptune.a -o $@ $(FUZZ_LDFLAGS) \
		$(LIBBPF_LIBS) $(MHD_LIBS) $(INIH_LIBS) -lm

vmlinux:
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > vmlinux/$(ARCH)/vmlinux.h

run: deps all
	./$(BUILD)/tcptune run $(ARGS)

unit: $(UNIT_TESTS)
	@bash tests/run-unit.sh $(UNIT_TESTS)

# every C file of the tree against .clang-format (kernel style, 100 columns;
# vmlinux.h aside); `make format` rewrites them so
CLANG_FORMAT ?= clang-format-14
FORMAT_FILES = $(sort $(shell find agent bpf include tests bench -name '*.[ch]'))
format-check: deps
	@$(CLANG_FORMAT) --dry-run --Werror $(FORMAT_FILES) && echo "format-check: ok ($(words $(FORMAT_FILES)) files)"
format:
	@$(CLANG_FORMAT) -i $(FORMAT_FILES)

# what Layout says of includes: one line per file and header that breaks it
check-layers:
	@bash tests/check-layers.sh

# the BPF tests alone (TESTS= picks some, as for e2e)
bpf-tests: $(BPF_TESTS)
	@E2E=no bash tests/run-all.sh

e2e: all $(TEST_TOOLS) $(BPF_TESTS)
	@bash tests/run-all.sh

test: deps check-layers all $(UNIT_TESTS) $(BPF_TESTS) $(TEST_TOOLS)
	@bash tests/run-all.sh $(UNIT_TESTS)

# The kernel matrix: each Debian kernel (tests/kernels/common.sh) fetched into
# KERNEL_CACHE (/var/cache/tcptune-kernels), booted under qemu with this
# machine's root shared read-only, tests/kernels/guest.sh run in it.
# KERNELS="deb12-6.1 ..." picks a subset; TESTS_IN_GUEST the e2e tests run there.
KERNELS ?=
test-kernels: deps all $(TEST_TOOLS)
	@KERNELS="$(KERNELS)" bash tests/kernels/run.sh

# Benchmarks run the agent, and only one agent may run on a host: each run is
# serialised on BENCH_LOCK (overhead.sh and load.sh each as a whole,
# bench/wan.sh and bench/noharm.sh per scenario, so others can interleave). Do
# not wrap `make bench` in the same flock (it would wait for itself);
# BENCH_LOCK= takes no lock.
BENCH_LOCK ?= /tmp/tcptune-dev.lock
LOCKED := $(if $(BENCH_LOCK),flock "$(BENCH_LOCK)")
bench: deps all $(BENCH_TOOLS) $(BUILD)/delayline
	@$(LOCKED) bash bench/overhead.sh; \
	rc=$$?; $(LOCKED) bash bench/load.sh || rc=1; \
	LOAD_CONNECTIONS=100000 LOAD_CHURN_RATE=10500 $(LOCKED) bash bench/load.sh || rc=1; \
	LOCK="$(BENCH_LOCK)" bash bench/wan.sh || rc=1; \
	LOCK="$(BENCH_LOCK)" bash bench/noharm.sh || rc=1; exit $$rc

bench-load: deps all $(BUILD)/load
	@$(LOCKED) bash bench/load.sh

bench-load-100k: deps all $(BUILD)/load
	@LOAD_CONNECTIONS=100000 LOAD_CHURN_RATE=10500 $(LOCKED) bash bench/load.sh

bench-wan: deps all $(BUILD)/delayline
	@LOCK="$(BENCH_LOCK)" bash bench/wan.sh

# SCENARIOS="r m" etc. picks a subset (bench/noharm.sh lists its settings)
bench-noharm: deps all $(BUILD)/rpc $(BUILD)/delayline
	@LOCK="$(BENCH_LOCK)" bash bench/noharm.sh

demo: deps all $(BUILD)/delayline
	@LOCK="$(BENCH_LOCK)" bash bench/demo.sh

clean:
	rm -rf $(BUILD) build-asan build-fuzz
.SECONDARY:

# Install: `make install` (PREFIX=/usr/local), or PREFIX=/usr for a package;
# DESTDIR stages the whole tree under a directory. The unit goes where systemd
# looks for that prefix's units (/usr/local/lib/systemd/system and
# /usr/lib/systemd/system are both on its search path); with another PREFIX
# set SYSTEMD_UNITDIR=/etc/systemd/system. The agent reads
# /etc/tcptune/tcptune.conf (compiled in): SYSCONFDIR only moves where the
# example goes, and an existing tcptune.conf is never touched.
PREFIX ?= /usr/local
DESTDIR ?=
SBINDIR ?= $(PREFIX)/sbin
MANDIR ?= $(PREFIX)/share/man
SYSCONFDIR ?= /etc
SYSTEMD_UNITDIR ?= $(PREFIX)/lib/systemd/system

.PHONY: install uninstall
install: all
	install -D -m 0755 $(BUILD)/tcptune "$(DESTDIR)$(SBINDIR)/tcptune"
	install -D -m 0644 deploy/systemd/tcptune.service "$(DESTDIR)$(SYSTEMD_UNITDIR)/tcptune.service"
	sed -i 's|@SBINDIR@|$(SBINDIR)|g' "$(DESTDIR)$(SYSTEMD_UNITDIR)/tcptune.service"
	install -D -m 0644 man/tcptune.8 "$(DESTDIR)$(MANDIR)/man8/tcptune.8"
	sed -i 's|@SBINDIR@|$(SBINDIR)|g' "$(DESTDIR)$(MANDIR)/man8/tcptune.8"
	install -D -m 0644 tcptune.conf.example "$(DESTDIR)$(SYSCONFDIR)/tcptune/tcptune.conf.example"
	@if [ -z "$(DESTDIR)" ]; then echo "tcptune: installed; 'systemctl daemon-reload', then 'systemctl enable --now tcptune'"; fi

# Removes what install put; $(SYSCONFDIR)/tcptune stays if a tcptune.conf is in it.
uninstall:
	rm -f "$(DESTDIR)$(SBINDIR)/tcptune" "$(DESTDIR)$(SYSTEMD_UNITDIR)/tcptune.service" \
		"$(DESTDIR)$(MANDIR)/man8/tcptune.8" "$(DESTDIR)$(SYSCONFDIR)/tcptune/tcptune.conf.example"
	rmdir "$(DESTDIR)$(SYSCONFDIR)/tcptune" 2>/dev/null || true
