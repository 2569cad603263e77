# tests/fuzz/fuzz.mk - libFuzzer harnesses for every parser of hostile
# input (tests/fuzz/README.md).  Included by the Makefile; also works
# on its own: make -f tests/fuzz/fuzz.mk fuzz-check
#
#   make fuzz          build $(O)/fuzz/fuzz_proto, fuzz_slots, fuzz_config
#   make fuzz-check    each harness FUZZ_SECONDS (20) on a copy of its
#                      seed corpus; fails on any crash or invariant
#   make fuzz-long     each harness FUZZ_LONG_SECONDS (600) with
#                      FUZZ_WORKERS (2) processes, corpus kept in
#                      tests/fuzz/corpus-run-NAME/; prints the execs
#   make fuzz-clean    remove the generated corpora
#
# The harnesses build with clang from source (never the gcc objects):
# libFuzzer, ASan and UBSan need every object instrumented.

O                 ?= build
FUZZ_CC           ?= clang
FUZZ_SECONDS      ?= 20
FUZZ_LONG_SECONDS ?= 600
FUZZ_WORKERS      ?= 2
FUZZ_DIR           = $(O)/fuzz

# Standalone use: the Makefile's V=1 / quiet convention.
ifeq ($(origin Q),undefined)
ifeq ($(V),1)
Q =
else
Q = @
endif
endif
ifeq ($(V),1)
fuzz_say =
else
fuzz_say = @printf '  %-7s %s\n' $(1) $(2);
endif

FUZZ_CFLAGS = -std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -fno-omit-frame-pointer \
              -fsanitize-coverage-ignorelist=tests/fuzz/coverage.ignore \
              -D_GNU_SOURCE -Iinclude -Ilib -Iclient -Ibroker \
              -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wpointer-arith

# What each harness compiles besides itself.  fuzz_slots also takes the
# sweeper's half of the protocol, lib/sweep_*.c (as the Makefile's
# SWEEP_SRC: it is what the harness drives).  It brings its own
# cb_monotonic_ns and cb_futex_wake instead of lib/futex.c, and builds
# everything with CB_FUZZ_SMALL_TABLES (lib/abi.h): 64 client and 256
# launch entries instead of 1024 and 4096, the same code.  A table full
# of hostile entries made one input cost ~10 ms (every client's reclaim
# walks the launch table for its half-made claims), so the full-size
# harness managed ~100 execs/s.
FUZZ_SRC_proto  = lib/proto.c
FUZZ_SRC_slots  = lib/segment.c lib/reserve.c lib/snapshot.c lib/place.c \
                  lib/queue.c $(wildcard lib/sweep_*.c)
FUZZ_SRC_config = broker/config.c lib/proto.c lib/clock.c
FUZZ_LIBS_proto  = -lbsd
FUZZ_LIBS_slots  =
FUZZ_LIBS_config = -lbsd

FUZZ_NAMES = proto slots config
FUZZ_BINS  = $(FUZZ_NAMES:%=$(FUZZ_DIR)/fuzz_%)
FUZZ_DEPS  = $(wildcard lib/*.h client/*.h broker/*.h) \
             tests/fuzz/fuzz.mk tests/fuzz/coverage.ignore

.PHONY: fuzz fuzz-check fuzz-long fuzz-clean

fuzz: $(FUZZ_BINS)

$(FUZZ_DIR)/fuzz_proto: tests/fuzz/fuzz_proto.c $(FUZZ_SRC_proto) $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(call fuzz_say,CCLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< \
	    $(FUZZ_SRC_proto) $(FUZZ_LIBS_proto)

$(FUZZ_DIR)/fuzz_slots: tests/fuzz/fuzz_slots.c $(FUZZ_SRC_slots) $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(call fuzz_say,CCLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) \
	    -DCB_FUZZ_SMALL_TABLES -o $@ $< \
	    $(FUZZ_SRC_slots) $(FUZZ_LIBS_slots)

$(FUZZ_DIR)/fuzz_config: tests/fuzz/fuzz_config.c $(FUZZ_SRC_config) $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	$(call fuzz_say,CCLD,$@)$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $< \
	    $(FUZZ_SRC_config) $(FUZZ_LIBS_config)

fuzz-check: $(FUZZ_BINS)
	$(Q)sh tests/fuzz/run.sh check $(FUZZ_DIR) $(FUZZ_SECONDS) 1 $(FUZZ_NAMES)

fuzz-long: $(FUZZ_BINS)
	$(Q)sh tests/fuzz/run.sh long $(FUZZ_DIR) $(FUZZ_LONG_SECONDS) \
	    $(FUZZ_WORKERS) $(FUZZ_NAMES)

fuzz-clean:
	rm -rf $(FUZZ_DIR) tests/fuzz/corpus-run-*/
