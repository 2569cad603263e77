# capbroker - host-local capacity broker.
#
#   make                 build the library and the programs (no cmocka
#                        needed; the tests build under make check)
#   make run             install missing packages, build, run the broker
#   make check           install missing packages, build, run every test
#   make check SAN=address,undefined   the same under sanitizers
#   make san-check       unit + integration tests under ASan+UBSan and
#                        TSan (make check runs it after the plain tests)
#   make valgrind-check  unit tests under valgrind (make check runs it)
#   make install PREFIX=/usr/local DESTDIR=   /  make uninstall
#   make man-check       lint the manual pages (mandoc -Tlint)
#   make bench           run capbench (tools/capbench/) and print its table
#   make bench-report    full capbench run: JSON, the plot and the tables
#                        of docs/BENCHMARKS.md
#   make python-check    test the Python binding (pytest, real broker)
#   make rust-check      test the Rust binding (cargo, real broker)
#   make go-check        test the Go binding (go vet, go test -race, real
#                        broker) and build its holder, $(O)/go/cbholder
#   make crosslang-check one pool held from C, Python, Rust and Go at once
#   make clean
#
# Objects go to build/ (build-SAN/ for sanitizer builds), so a sanitizer
# build never mixes with a plain one.

VERSION     = 0.1.0
SOVERSION   = 0
PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PCDIR      ?= $(LIBDIR)/pkgconfig
MANDIR     ?= $(PREFIX)/share/man
# Supervisor files (dist/): the systemd unit where systemd looks for
# units under PREFIX, the runit service directory where Debian's runit
# keeps its services (/etc/sv for PREFIX=/usr, PREFIX/etc/sv otherwise).
SYSCONFDIR ?= $(if $(filter /usr,$(PREFIX)),/etc,$(PREFIX)/etc)
SYSTEMDUNITDIR ?= $(PREFIX)/lib/systemd/system
RUNITDIR   ?= $(SYSCONFDIR)/sv
DESTDIR    ?=
# The Python binding (client/python/capbroker): Debian's python3 looks in
# /usr/lib/python3/dist-packages for PREFIX=/usr and in
# PREFIX/lib/python3.X/dist-packages otherwise.  /usr/bin/python3, not
# whatever python3 comes first in PATH: the tests need Debian's pytest.
PYTHON     ?= /usr/bin/python3
# Debian's Rust toolchain, by absolute path: a rustup toolchain first in
# PATH is not what CI has.
CARGO      ?= /usr/bin/cargo
RUSTC      ?= /usr/bin/rustc
RUSTDOC    ?= /usr/bin/rustdoc
PY_VERSION  = $(shell $(PYTHON) -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)
PYTHONDIR  ?= $(if $(filter /usr,$(PREFIX)),$(PREFIX)/lib/python3/dist-packages,$(PREFIX)/lib/python$(PY_VERSION)/dist-packages)
PY_PKG      = client/python/capbroker
PY_FILES    = $(wildcard $(PY_PKG)/*.py) $(PY_PKG)/py.typed
# The Go binding (client/go, module capbroker, cgo and the standard
# library only): Debian's go, by absolute path like PYTHON.  Its build
# cache and GOPATH live in $(O)/go, so a clean clone builds with nothing
# outside the tree touched, and no module proxy is asked (GOPROXY=off:
# the module has no dependencies).  The cgo flags point at this tree's
# header and $(O)'s libcapbroker.so.0 (rpath: the tests run against it).
GO         ?= /usr/bin/go
GO_ENV      = GOCACHE=$(abspath $(O))/go/cache GOPATH=$(abspath $(O))/go/path \
              GOPROXY=off GOFLAGS= GO111MODULE=on CGO_ENABLED=1 \
              CGO_CFLAGS="-O2 -g -Wall -Wextra -Werror -I$(CURDIR)/include" \
              CGO_LDFLAGS="-L$(abspath $(O)) -Wl,-rpath,$(abspath $(O))"

CC      ?= cc
CFLAGS  ?= -O2 -g
WARN     = -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wpointer-arith -Wformat=2
# include/ holds the one public header; lib/ the core.  client/ is on
# the path only of the programs that use the client library's internals
# (CLIENT_CPPFLAGS): lib/ and broker/ cannot reach it.
CPPFLAGS += -D_GNU_SOURCE -Iinclude -Ilib
CLIENT_CPPFLAGS = -Iclient
SAN     ?=
comma   := ,
ifeq ($(SAN),)
O       ?= build
else
O       ?= build-$(subst $(comma),-,$(SAN))
SANFLAGS = -fsanitize=$(SAN) -fno-omit-frame-pointer
# TSan does not model atomic_thread_fence (gcc warns, -Wtsan).  The
# seqlock fences order only relaxed atomic accesses, which TSan never
# reports as races, so silencing the warning hides nothing.
ifneq ($(findstring thread,$(SAN)),)
SANFLAGS += -Wno-tsan
endif
endif

# V=1 shows full command lines.
ifeq ($(V),1)
Q =
say =
else
Q = @
say = @printf '  %-7s %s\n' $(1) $(2);
endif

ALL_CFLAGS  = -std=gnu11 $(WARN) $(CFLAGS) $(SANFLAGS) -pthread
ALL_LDFLAGS = $(LDFLAGS) $(SANFLAGS) -pthread

PKG_URCU    = $(shell pkg-config --cflags --libs liburcu-memb liburcu-cds 2>/dev/null)
PKG_BSD     = $(shell pkg-config --cflags --libs libbsd 2>/dev/null)
PKG_SYSTEMD = $(shell pkg-config --cflags --libs libsystemd 2>/dev/null)
PKG_CMOCKA  = $(shell pkg-config --cflags --libs cmocka 2>/dev/null)
# The broker's etcd client (broker/etcd.c, for the global pools of
# broker/cluster.c) only; the client library stays libc-only.
PKG_CURL    = $(shell pkg-config --cflags --libs libcurl 2>/dev/null)
PKG_JSONC   = $(shell pkg-config --cflags --libs json-c 2>/dev/null)

# lib/: the core every program links.  CORE is libc-only and also goes
# into libcapbroker; TOOLCORE (control protocol and its client,
# strtonum) uses libbsd and is for the broker and the command-line tools
# only; SWEEP is the broker's half of the reservation protocol (reclaim,
# scrub, expiry, settle, recount), linked into the broker and the tests
# that drive it, never into libcapbroker.
CORE_SRC     = lib/segment.c lib/tier.c lib/clock.c lib/futex.c lib/proc.c \
               lib/rundir.c lib/snapshot.c lib/reserve.c lib/queue.c \
               lib/place.c lib/sigbus.c lib/errname.c
TOOLCORE_SRC = lib/proto.c lib/ctl_client.c
SWEEP_SRC    = lib/sweep_reserve.c lib/sweep_queue.c lib/sweep_place.c
# client/*.c is libcapbroker; each program is a folder of its own.
CLIENT_SRC   = $(wildcard client/*.c)
CAPCTL_SRC   = $(wildcard client/capctl/*.c)
CAPDUMP_SRC  = $(wildcard tools/capdump/*.c)
CAPBENCH_SRC = $(wildcard tools/capbench/*.c)
BROKER_SRC   = broker/main.c broker/registry.c broker/publisher.c \
               broker/control.c broker/config.c broker/segments.c \
               broker/log.c broker/pools.c broker/sweeper.c \
               broker/slotmap.c broker/cluster.c broker/etcd.c

CORE_OBJ     = $(CORE_SRC:%.c=$(O)/%.o)
TOOLCORE_OBJ = $(TOOLCORE_SRC:%.c=$(O)/%.o)
SWEEP_OBJ    = $(SWEEP_SRC:%.c=$(O)/%.o)
CLIENT_OBJ   = $(CLIENT_SRC:%.c=$(O)/%.o)
BROKER_OBJ   = $(BROKER_SRC:%.c=$(O)/%.o)

# The test-point build (lib/testpoint.h): the same sources compiled with
# -DCB_TESTPOINTS into $(O)/tp/, for the tests that force an interleaving
# (tests/unit/test_tp_*.c, tests/integration/tp_*.c, capbrokerd-tp).
TP          = $(O)/tp
TP_CORE_OBJ = $(CORE_SRC:%.c=$(TP)/%.o) $(TP)/lib/testpoint.o
TP_LIB_A    = $(TP)/libcapbroker.a
TP_BROKER_OBJ = $(BROKER_SRC:%.c=$(TP)/%.o) $(SWEEP_SRC:%.c=$(TP)/%.o) \
                $(TOOLCORE_SRC:%.c=$(TP)/%.o)

LIB_SO      = $(O)/libcapbroker.so.$(VERSION)
LIB_SONAME  = libcapbroker.so.$(SOVERSION)
LIB_A       = $(O)/libcapbroker.a
LIB_PC      = $(O)/capbroker.pc
PROGRAMS    = $(O)/capbrokerd $(O)/capctl $(O)/capdump
BENCH       = $(O)/capbench $(O)/libcbbench_oneload.so

# Manual pages (mdoc), next to the code they document.
MAN1        = client/capctl.1 tools/capdump.1
MAN3        = client/capbroker.3
MAN8        = broker/capbrokerd.8
MANPAGES    = $(MAN1) $(MAN3) $(MAN8) tools/capbench.1

UNIT_TESTS  = $(patsubst tests/unit/%.c,$(O)/tests/%,$(wildcard tests/unit/test_*.c))
ITEST_PROGS = $(patsubst tests/integration/%.c,$(O)/tests/%,$(wildcard tests/integration/*.c)) \
              $(O)/tests/capbrokerd-tp
# examples/gateway: the pre-forked HTTP gateway and its fake backends
# (tests/integration/t_gateway.sh).
EXAMPLES    = $(O)/examples/gateway $(O)/examples/fakebackend

.PHONY: all tests deps run check san-check valgrind-check unit-check model-check integration-check install uninstall \
        clean man-check python-check rust-check go-check crosslang-check \
        bench bench-report
all: $(LIB_SO) $(LIB_A) $(LIB_PC) $(PROGRAMS) $(BENCH) $(EXAMPLES)

# The test programs (unit tests need cmocka).
tests: $(UNIT_TESTS) $(ITEST_PROGS)

deps:
	@sh scripts/install-deps.sh

$(TP)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$@)$(CC) $(CPPFLAGS) -DCB_TESTPOINTS $(if $(filter lib/% broker/%,$<),,$(CLIENT_CPPFLAGS)) $(ALL_CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(TP_LIB_A): $(CLIENT_SRC:%.c=$(TP)/%.o) $(TP_CORE_OBJ)
	$(Q)rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(O)/tests/capbrokerd-tp: $(TP_BROKER_OBJ) $(TP_CORE_OBJ)
	@mkdir -p $(dir $@)
	$(call say,LD,$@)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(PKG_URCU) $(PKG_BSD) $(PKG_SYSTEMD) $(PKG_CURL) $(PKG_JSONC)

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(call say,CC,$<)$(CC) $(CPPFLAGS) $(if $(filter lib/% broker/%,$<),,$(CLIENT_CPPFLAGS)) $(ALL_CFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(LIB_SO): $(CLIENT_OBJ) $(CORE_OBJ) client/libcapbroker.map
	$(call say,LD,$@)$(CC) -shared -Wl,-soname,$(LIB_SONAME) \
	    -Wl,--version-script=client/libcapbroker.map -Wl,--no-undefined \
	    -o $@ $(CLIENT_OBJ) $(CORE_OBJ) $(ALL_LDFLAGS)
	$(Q)ln -sf libcapbroker.so.$(VERSION) $(O)/$(LIB_SONAME)
	$(Q)ln -sf $(LIB_SONAME) $(O)/libcapbroker.so

$(LIB_A): $(CLIENT_OBJ) $(CORE_OBJ)
	$(Q)rm -f $@
	$(call say,AR,$@)ar rcs $@ $^

$(LIB_PC): client/capbroker.pc.in Makefile
	@mkdir -p $(O)
	$(call say,GEN,$@)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	    $< > $@

# Programs link the static library: no LD_LIBRARY_PATH needed to run
# them from the build tree.
# The broker links the core objects, never the client library.
$(O)/capbrokerd: $(BROKER_OBJ) $(SWEEP_OBJ) $(TOOLCORE_OBJ) $(CORE_OBJ)
	$(call say,LD,$@)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(PKG_URCU) $(PKG_BSD) $(PKG_SYSTEMD) $(PKG_CURL) $(PKG_JSONC)

$(O)/capctl: $(CAPCTL_SRC:%.c=$(O)/%.o) $(TOOLCORE_OBJ) $(LIB_A)
	$(call say,LD,$@)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(PKG_BSD)

$(O)/capdump: $(CAPDUMP_SRC:%.c=$(O)/%.o) $(TOOLCORE_OBJ) $(LIB_A)
	$(call say,LD,$@)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(PKG_BSD)

$(O)/examples/gateway: examples/gateway/gateway.c include/capbroker.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(ALL_LDFLAGS)

$(O)/examples/fakebackend: examples/gateway/fakebackend.c
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(ALL_LDFLAGS)

# capbench (not installed) links the static library like the other
# tools, and dlopen()s the shared one next to a one-load yardstick
# library, so cb_current() and the yardstick pay the same call.
$(O)/capbench: $(CAPBENCH_SRC:%.c=$(O)/%.o) $(TOOLCORE_OBJ) $(LIB_A)
	$(call say,LD,$@)$(CC) -o $@ $^ $(ALL_LDFLAGS) $(PKG_BSD) -ldl

$(O)/libcbbench_oneload.so: $(O)/tools/cbbench_oneload.o
	$(call say,LD,$@)$(CC) -shared -o $@ $^ $(ALL_LDFLAGS)

# Unit tests: tests/unit/test_MODULE.c links the core and protocol;
# tests/unit/test_broker_MODULE.c also links the broker's modules.
BROKER_LIB_OBJ = $(filter-out $(O)/broker/main.o,$(BROKER_OBJ))

# tests/unit/test_etcd.c: the etcd client (broker/etcd.c) against a
# real etcd the test starts itself.
$(O)/tests/test_etcd: tests/unit/test_etcd.c tests/unit/etcd_harness.h \
    $(O)/broker/etcd.o
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Ibroker $(ALL_CFLAGS) -o $@ $< \
	    $(O)/broker/etcd.o $(ALL_LDFLAGS) $(PKG_CMOCKA) $(PKG_CURL) \
	    $(PKG_JSONC) $(PKG_BSD)

# tests/unit/test_tp_*.c: the test-point build of everything, broker
# modules included.
$(O)/tests/test_tp_%: tests/unit/test_tp_%.c $(filter-out $(TP)/broker/main.o,$(TP_BROKER_OBJ)) \
    $(TP_LIB_A)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -DCB_TESTPOINTS -Ibroker $(CLIENT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< \
	    $(filter-out $(TP)/broker/main.o,$(TP_BROKER_OBJ)) $(TP_LIB_A) $(ALL_LDFLAGS) \
	    $(PKG_CMOCKA) $(PKG_URCU) $(PKG_BSD) $(PKG_SYSTEMD) $(PKG_CURL) $(PKG_JSONC)

$(O)/tests/test_broker_%: tests/unit/test_broker_%.c $(BROKER_LIB_OBJ) \
    $(SWEEP_OBJ) $(TOOLCORE_OBJ) $(CORE_OBJ)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -Ibroker $(ALL_CFLAGS) -o $@ $< $(BROKER_LIB_OBJ) \
	    $(SWEEP_OBJ) $(TOOLCORE_OBJ) $(CORE_OBJ) $(ALL_LDFLAGS) $(PKG_CMOCKA) \
	    $(PKG_URCU) $(PKG_BSD) $(PKG_SYSTEMD) $(PKG_CURL) $(PKG_JSONC)

$(O)/tests/%: tests/unit/%.c $(SWEEP_OBJ) $(TOOLCORE_OBJ) $(LIB_A)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(CLIENT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(SWEEP_OBJ) $(TOOLCORE_OBJ) $(LIB_A) \
	    $(ALL_LDFLAGS) $(PKG_CMOCKA) $(PKG_BSD)

$(O)/tests/tp_%: tests/integration/tp_%.c tests/integration/cbtest.h $(TP_LIB_A)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) -DCB_TESTPOINTS $(CLIENT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(TP_LIB_A) $(ALL_LDFLAGS)

$(O)/tests/%: tests/integration/%.c tests/integration/cbtest.h $(LIB_A)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)$(CC) $(CPPFLAGS) $(CLIENT_CPPFLAGS) $(ALL_CFLAGS) -o $@ $< $(LIB_A) $(ALL_LDFLAGS)

run: deps
	@$(MAKE) --no-print-directory all
	@sh scripts/run-broker.sh $(O)

# Builds run one job per CPU (BUILD_JOBS); the checks themselves run
# one after another (their output is read in order, and the integration
# tests time things), except the model check: its CPU-bound searches run
# in the background at nice 19 from the start (tests/model/background.sh)
# and its lines come at the end.
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 1)
MODEL_BG = sh tests/model/background.sh

check: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all tests
	@$(MODEL_BG) start $(O) $$PPID
	@$(MAKE) --no-print-directory man-check unit-check \
	    fuzz-check integration-check python-check rust-check go-check \
	    crosslang-check || { $(MODEL_BG) stop $(O); exit 1; }
ifeq ($(SAN),)
	@$(MAKE) --no-print-directory valgrind-check san-check || \
	    { $(MODEL_BG) stop $(O); exit 1; }
endif
	@$(MODEL_BG) finish $(O)

# The unit tests under valgrind: any memory error or definite/indirect
# leak fails the binary (run-unit.sh counts it).
VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full \
           --errors-for-leak-kinds=definite,indirect
valgrind-check: $(UNIT_TESTS)
	@RUN_UNIT_WRAPPER="$(VALGRIND)" sh tests/run-unit.sh $(UNIT_TESTS)

# The sanitizer builds, which make check (and so CI) runs after the
# plain one: the unit and integration tests under ASan+UBSan, then under
# TSan, each in its own build directory ($(O)-address-undefined,
# $(O)-thread).  The model has no C in it and the fuzzers are ASan+UBSan
# builds already, so they are not repeated.
SAN_CHECKS = address,undefined thread
san-check:
	@for s in $(SAN_CHECKS); do \
	    o=$(O)-$$(printf %s "$$s" | tr , -); \
	    echo "sanitizer build: SAN=$$s O=$$o"; \
	    $(MAKE) --no-print-directory -j$(BUILD_JOBS) SAN=$$s O=$$o \
	        all tests || exit 1; \
	    $(MAKE) --no-print-directory SAN=$$s O=$$o unit-check \
	        integration-check || exit 1; \
	done

model-check:
	@sh tests/model/run.sh

unit-check: $(UNIT_TESTS)
	@TSAN_OPTIONS="$(TSAN_OPTIONS_CHECK)" sh tests/run-unit.sh $(UNIT_TESTS)

# Sanitizer reports fail the run: a sanitized broker exits non-zero and
# the tests check every exit status.
TSAN_OPTIONS_CHECK = suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=0 exitcode=66
integration-check: all $(ITEST_PROGS)
	@TSAN_OPTIONS="$(TSAN_OPTIONS_CHECK)" sh tests/integration/run.sh $(O)

# The Python binding's tests (tests/python, pytest) against this build's
# library and a broker of this build.  A sanitized library cannot be
# loaded into an unsanitized interpreter, so sanitizer builds skip them.
python-check: $(LIB_SO) $(O)/capbrokerd $(O)/capctl
ifeq ($(SAN),)
	@CAPBROKER_BIN=$(abspath $(O)) \
	    CAPBROKER_LIB=$(abspath $(O))/$(LIB_SONAME) \
	    PYTHONPATH=$(CURDIR)/client/python PYTHONDONTWRITEBYTECODE=1 \
	    $(PYTHON) -m pytest -p no:cacheprovider -q \
	    --ignore=tests/python/crosslang tests/python
else
	@echo "python-check: skipped in sanitizer builds (SAN=$(SAN))"
endif

# The Rust binding's tests (client/rust: cargo test builds the examples
# too, and tests/examples.rs runs them) against this build's library
# and a broker of this build, after cargo doc (warnings are errors);
# then the README's Rust fragment must compile (tests/readme-bindings.sh;
# go-check does the same for the Go one).  cargo's test harness has no
# timeout of its own (a test reading a holder's pipe would wait for
# ever if the binding broke): timeout(1) ends it, as go test -timeout
# does Go's.
# Offline, with cargo's home and target directory in the build
# directory, so nothing touches ~/.cargo.  A sanitized library needs
# its runtime linked into the program first, so sanitizer builds skip
# them.
RUST_ENV = CAPBROKER_BIN=$(abspath $(O)) CAPBROKER_LIB_DIR=$(abspath $(O)) \
	CARGO_TARGET_DIR=$(abspath $(O))/rust \
	CARGO_HOME=$(abspath $(O))/cargo-home \
	RUSTC=$(RUSTC) RUSTDOC=$(RUSTDOC) RUSTDOCFLAGS=-Dwarnings

rust-check: $(LIB_SO) $(O)/capbrokerd $(O)/capctl
ifeq ($(SAN),)
	@cd client/rust && $(RUST_ENV) $(CARGO) doc --offline --no-deps -q && \
	    $(RUST_ENV) timeout 600 $(CARGO) test --offline
	@RUSTC=$(RUSTC) sh tests/readme-bindings.sh rust $(O)
else
	@echo "rust-check: skipped in sanitizer builds (SAN=$(SAN))"
endif

# go test -race is the Go binding's own sanitizer; the library of a SAN
# build would need its runtime in every Go test binary.
go-check: $(LIB_SO) $(O)/capbrokerd $(O)/capctl $(O)/capdump
ifeq ($(SAN),)
	@cd client/go && $(GO_ENV) CAPBROKER_BIN=$(abspath $(O)) sh -c '\
	    $(GO) vet ./... && \
	    $(GO) test -race -count=1 -timeout 5m ./... && \
	    $(GO) build -o $(abspath $(O))/go/cbholder ./cmd/cbholder'
	@$(GO_ENV) GO=$(GO) sh tests/readme-bindings.sh go $(O)
else
	@echo "go-check: skipped in sanitizer builds (SAN=$(SAN))"
endif

# One pool, four languages (tests/python/crosslang, pytest): the C
# (tests/integration/cbholder.c), Python, Rust (client/rust/examples/
# holder.rs) and Go (client/go/cmd/cbholder) holders against one broker
# of this build.  Builds the Rust and Go holders itself (quick after
# rust-check and go-check); skipped in sanitizer builds as they are.
RUST_HOLDER = $(abspath $(O))/rust/debug/examples/holder
GO_HOLDER   = $(abspath $(O))/go/cbholder
crosslang-check: $(LIB_SO) $(O)/capbrokerd $(O)/capctl $(O)/capdump \
    $(O)/tests/cbholder
ifeq ($(SAN),)
	@cd client/rust && $(RUST_ENV) $(CARGO) build --offline -q \
	    --example holder
	@cd client/go && $(GO_ENV) $(GO) build -o $(GO_HOLDER) ./cmd/cbholder
	@CAPBROKER_BIN=$(abspath $(O)) \
	    CAPBROKER_LIB=$(abspath $(O))/$(LIB_SONAME) \
	    CAPBROKER_RUST_HOLDER=$(RUST_HOLDER) \
	    CAPBROKER_GO_HOLDER=$(GO_HOLDER) \
	    PYTHONPATH=$(CURDIR)/client/python PYTHONDONTWRITEBYTECODE=1 \
	    $(PYTHON) -m pytest -p no:cacheprovider -q tests/python/crosslang
else
	@echo "crosslang-check: skipped in sanitizer builds (SAN=$(SAN))"
endif

# Benchmarks: never part of make check (which runs capbench --smoke from
# tests/integration/t_bench.sh).  install-deps.sh bench adds redis-server
# (the Redis comparison) and gnuplot-nox (the plot).
bench: all
	@sh scripts/install-deps.sh bench
	$(call say,BENCH,$(O)/capbench)$(O)/capbench

bench-report: all
	@sh scripts/install-deps.sh bench
	$(call say,BENCH,docs/BENCHMARKS.md)sh tools/bench-report.sh $(O)

# mandoc prints nothing for a page without warnings: any output (or a
# missing mandoc) fails.
man-check:
	$(call say,MANLINT,'$(MANPAGES)')out=$$(mandoc -Tlint -W warning $(MANPAGES) 2>&1) && \
	    [ -z "$$out" ] || { printf '%s\n' "$$out" >&2; exit 1; }

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCLUDEDIR) \
	    $(DESTDIR)$(PCDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	    $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libcapbroker.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SONAME)
	ln -sf $(LIB_SONAME) $(DESTDIR)$(LIBDIR)/libcapbroker.so
	install -m 0644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 0644 include/capbroker.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 0644 $(LIB_PC) $(DESTDIR)$(PCDIR)/
	install -m 0755 $(O)/capctl $(O)/capdump $(DESTDIR)$(BINDIR)/
	install -m 0755 $(O)/capbrokerd $(DESTDIR)$(SBINDIR)/
	install -m 0644 $(MAN1) $(DESTDIR)$(MANDIR)/man1/
	install -m 0644 $(MAN3) $(DESTDIR)$(MANDIR)/man3/
	install -m 0644 $(MAN8) $(DESTDIR)$(MANDIR)/man8/
	install -d $(DESTDIR)$(PYTHONDIR)/capbroker
	install -m 0644 $(PY_FILES) $(DESTDIR)$(PYTHONDIR)/capbroker/
	install -d $(DESTDIR)$(SYSTEMDUNITDIR) $(DESTDIR)$(RUNITDIR)/capbrokerd/log
	sed 's|/usr/local/sbin/capbrokerd|$(SBINDIR)/capbrokerd|' \
	    dist/capbrokerd@.service >$(DESTDIR)$(SYSTEMDUNITDIR)/capbrokerd@.service
	chmod 0644 $(DESTDIR)$(SYSTEMDUNITDIR)/capbrokerd@.service
	sed 's|/usr/local/sbin/capbrokerd|$(SBINDIR)/capbrokerd|' \
	    dist/runit/capbrokerd/run >$(DESTDIR)$(RUNITDIR)/capbrokerd/run
	install -m 0755 dist/runit/capbrokerd/log/run \
	    $(DESTDIR)$(RUNITDIR)/capbrokerd/log/run
	chmod 0755 $(DESTDIR)$(RUNITDIR)/capbrokerd/run

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libcapbroker.so.$(VERSION) \
	    $(DESTDIR)$(LIBDIR)/$(LIB_SONAME) \
	    $(DESTDIR)$(LIBDIR)/libcapbroker.so \
	    $(DESTDIR)$(LIBDIR)/libcapbroker.a \
	    $(DESTDIR)$(INCLUDEDIR)/capbroker.h \
	    $(DESTDIR)$(PCDIR)/capbroker.pc \
	    $(DESTDIR)$(BINDIR)/capctl $(DESTDIR)$(BINDIR)/capdump \
	    $(DESTDIR)$(SBINDIR)/capbrokerd \
	    $(DESTDIR)$(MANDIR)/man1/capctl.1 \
	    $(DESTDIR)$(MANDIR)/man1/capdump.1 \
	    $(DESTDIR)$(MANDIR)/man3/capbroker.3 \
	    $(DESTDIR)$(MANDIR)/man8/capbrokerd.8
	rm -f $(addprefix $(DESTDIR)$(PYTHONDIR)/capbroker/,$(notdir $(PY_FILES)))
	rm -rf $(DESTDIR)$(PYTHONDIR)/capbroker/__pycache__
	rmdir $(DESTDIR)$(PYTHONDIR)/capbroker 2>/dev/null || true
	rm -f $(DESTDIR)$(SYSTEMDUNITDIR)/capbrokerd@.service \
	    $(DESTDIR)$(RUNITDIR)/capbrokerd/run \
	    $(DESTDIR)$(RUNITDIR)/capbrokerd/log/run
	rmdir $(DESTDIR)$(RUNITDIR)/capbrokerd/log \
	    $(DESTDIR)$(RUNITDIR)/capbrokerd 2>/dev/null || true

clean:
	rm -rf build build-*

-include $(shell find $(O) -name '*.d' 2>/dev/null)

# Coverage-guided fuzzing (clang, libFuzzer): make fuzz / fuzz-check /
# fuzz-long; see tests/fuzz/README.md.
include tests/fuzz/fuzz.mk
