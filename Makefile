# libponynet — build, demo, test, install.
#   make           release library (target/release/libponynet.so)
#   make demo      library + the C echo demo (examples/c/echo.c), run through the generated header
#   make test      every Rust test, every C test, and the C tests under valgrind
#   make soak      the long soak (C ABI and Rust API), with its totals
#   make install PREFIX=/usr/local
.SUFFIXES:

PREFIX   ?= /usr/local
CARGO    ?= cargo
CC       ?= cc
SONAME   := libponynet.so.0
RELDIR   := target/release
LIB      := $(RELDIR)/libponynet.so
BUILD    := c_tests/build
CFLAGS_C := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wpedantic -Werror -O1 -g -Iinclude -Ic_tests
LDLIBS_C := -L$(RELDIR) -lponynet -Wl,-rpath,$(abspath $(RELDIR)) -lpthread
VALGRIND := valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite

TEST_SRCS := $(wildcard c_tests/test_*.c)
TEST_BINS := $(patsubst c_tests/%.c,$(BUILD)/%,$(TEST_SRCS)) $(BUILD)/test_pony_mode
TEST_BINS += $(BUILD)/test_hostile
CXX      ?= c++
PONY_FAKE := c_tests/pony_mode/fake_runtime.cpp c_tests/pony_mode/fake_runtime.h c_tests/pony_mode/test_pony_mode.cpp
HARNESS   := c_tests/harness.c c_tests/owner.c
HARNESS_H := c_tests/harness.h c_tests/owner.h include/ponynet.h

.PHONY: all lib demo test test-rust test-loom test-c test-valgrind install clean deps rust-deps c-deps bench bench-quick bench-programs FORCE
.PHONY: check-memory check-asan check-tsan nightly-deps

BENCH_BUILD := bench/build
BENCH_CFLAGS := -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Iinclude -Ibench/c

all: lib

deps: c-deps rust-deps

# CI and fresh machines: install what the C side needs when it is missing.
c-deps:
	@missing=""; \
	command -v $(CC) >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v $(CXX) >/dev/null 2>&1 || missing="$$missing g++"; \
	command -v valgrind >/dev/null 2>&1 || missing="$$missing valgrind"; \
	command -v pkg-config >/dev/null 2>&1 || missing="$$missing pkg-config"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing </dev/null; \
	fi

rust-deps:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo not found: install Rust (rustup) first"; exit 1; }

lib: rust-deps FORCE
	$(CARGO) build --release --lib
	@ln -sf libponynet.so $(RELDIR)/$(SONAME)

$(LIB): lib

$(BUILD)/%: c_tests/%.c $(HARNESS) $(HARNESS_H) | $(BUILD)
	$(CC) $(CFLAGS_C) -o $@ $< $(HARNESS) $(LDLIBS_C)

# test_sockopt checks every numbered socket option against the system headers,
# through an include generated from the numbering (c_tests/sockopt_expected.sh).
$(BUILD)/sockopt_expected.h: data/sockopt_numbers.tsv data/sockopt_headers.h c_tests/sockopt_expected.sh | $(BUILD)
	CC="$(CC)" sh c_tests/sockopt_expected.sh data/sockopt_numbers.tsv data $@

$(BUILD)/test_sockopt: c_tests/test_sockopt.c $(BUILD)/sockopt_expected.h $(HARNESS) $(HARNESS_H) | $(BUILD)
	$(CC) $(CFLAGS_C) -I$(BUILD) -Idata -o $@ $< $(HARNESS) $(LDLIBS_C)

# Hostile arguments for every function of the header: the test is generated
# from the header and c_tests/hostile_table.txt, and generating it fails if
# the header declares a function the table does not cover.
$(BUILD)/test_hostile.c: c_tests/gen_hostile.sh c_tests/hostile_table.txt include/ponynet.h | $(BUILD)
	sh c_tests/gen_hostile.sh include/ponynet.h c_tests/hostile_table.txt > $@.tmp && mv $@.tmp $@

$(BUILD)/test_hostile: $(BUILD)/test_hostile.c c_tests/hostile_fixture.c c_tests/hostile_fixture.h $(HARNESS) $(HARNESS_H) | $(BUILD)
	$(CC) $(CFLAGS_C) -o $@ $< c_tests/hostile_fixture.c $(HARNESS) $(LDLIBS_C)

# Pony-runtime mode against a fake runtime, exported from the executable
# (-rdynamic) where the library's weak imports find it.
PONY_CXXFLAGS := -std=c++17 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -Iinclude -Ic_tests -Ic_tests/pony_mode -rdynamic

$(BUILD)/harness_pony.o: c_tests/harness.c c_tests/harness.h | $(BUILD)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -Ic_tests -c c_tests/harness.c -o $@

$(BUILD)/test_pony_mode: $(PONY_FAKE) $(BUILD)/harness_pony.o $(HARNESS_H) | $(BUILD)
	$(CXX) $(PONY_CXXFLAGS) -o $@ c_tests/pony_mode/test_pony_mode.cpp c_tests/pony_mode/fake_runtime.cpp $(BUILD)/harness_pony.o $(LDLIBS_C)

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/echo: examples/c/echo.c include/ponynet.h | $(BUILD)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDLIBS_C)

demo: c-deps lib $(BUILD)/echo
	$(BUILD)/echo

# The last line `make test` prints is the valgrind run's "N passed, M failed".
test: deps test-rust test-loom test-c test-valgrind

test-rust: rust-deps
	$(CARGO) test --features fault-injection

# Model checks (loom) of the protocols between threads: every interleaving,
# up to a preemption bound, of the real code (src/asio/loom_models.rs).
test-loom: rust-deps
	RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom $(CARGO) test --release --lib loom_

# ---- Sanitizers: make check-memory -----------------------------------------
# AddressSanitizer and ThreadSanitizer over the Rust tests and the C tests
# (the library built with the sanitizer, std included: -Zbuild-std), then
# valgrind memcheck. Any report fails the run.
NIGHTLY    ?= nightly
SAN_TARGET := x86_64-unknown-linux-gnu
SAN_CARGO   = RUSTFLAGS="-Zsanitizer=$(1)" $(CARGO) +$(NIGHTLY) $(2) -Zbuild-std --target $(SAN_TARGET) --target-dir target/san-$(1)
SAN_LIBDIR  = target/san-$(1)/$(SAN_TARGET)/debug
SAN_LDLIBS  = $(if $(filter thread,$(1)),c_tests/tsan_shim.c) -L$(call SAN_LIBDIR,$(1)) -lponynet -Wl,-rpath,$(abspath $(call SAN_LIBDIR,$(1))) -lpthread
SAN_C_TESTS = $(patsubst c_tests/%.c,%,$(TEST_SRCS))

nightly-deps: rust-deps
	@rustup toolchain list | grep -q '^$(NIGHTLY)' || rustup toolchain install $(NIGHTLY) --profile minimal </dev/null
	@rustup component list --toolchain $(NIGHTLY) --installed | grep -q '^rust-src' || rustup component add rust-src --toolchain $(NIGHTLY) </dev/null

check-memory: check-asan check-tsan test-valgrind

SAN_C_DEPS := $(BUILD)/sockopt_expected.h $(BUILD)/harness_pony.o $(BUILD)/test_hostile.c

check-asan: nightly-deps c-deps $(SAN_C_DEPS)
	$(call san_run,address)

check-tsan: nightly-deps c-deps $(SAN_C_DEPS)
	$(call san_run,thread)

# $(1): address or thread. Rust tests (doc-tests do not link with a
# sanitizer), then the library alone and every C test against it.
define san_run
	$(call SAN_CARGO,$(1),test) --features fault-injection --lib --tests
	$(call SAN_CARGO,$(1),build) --lib
	ln -sf libponynet.so $(call SAN_LIBDIR,$(1))/$(SONAME)
	mkdir -p $(BUILD)/san-$(1)
	for t in $(SAN_C_TESTS); do \
	  $(CC) $(CFLAGS_C) -I$(BUILD) -Idata -fsanitize=$(1) -fno-omit-frame-pointer -o $(BUILD)/san-$(1)/$$t c_tests/$$t.c $(HARNESS) \
	    $(call SAN_LDLIBS,$(1)) || exit 1; \
	done
	$(CC) $(CFLAGS_C) -fsanitize=$(1) -fno-omit-frame-pointer -o $(BUILD)/san-$(1)/test_hostile \
	  $(BUILD)/test_hostile.c c_tests/hostile_fixture.c $(HARNESS) $(call SAN_LDLIBS,$(1))
	$(CXX) $(PONY_CXXFLAGS) -fsanitize=$(1) -fno-omit-frame-pointer -o $(BUILD)/san-$(1)/test_pony_mode \
	  c_tests/pony_mode/test_pony_mode.cpp c_tests/pony_mode/fake_runtime.cpp $(BUILD)/harness_pony.o $(call SAN_LDLIBS,$(1))
	HARNESS_TEST_SECONDS=120 sh c_tests/run.sh $(addprefix $(BUILD)/san-$(1)/,$(SAN_C_TESTS) test_hostile test_pony_mode)
endef

test-c: c-deps lib $(TEST_BINS) $(BUILD)/echo
	@./$(BUILD)/echo >/dev/null && echo "ok   the echo demo builds against the header and runs"
	@sh c_tests/check_exports.sh $(LIB) data/abi_symbols.txt data/pony_hooks.txt data/ponynet_additions.txt
	@sh c_tests/check_install.sh
	@sh c_tests/run.sh $(TEST_BINS)

test-valgrind: c-deps lib $(TEST_BINS)
	@HARNESS_TEST_SECONDS=120 RUNNER="$(VALGRIND)" sh c_tests/run.sh $(TEST_BINS)

# Soak: 500 connections x 2000 echoed messages of random sizes through the C
# ABI and through the Rust API; prints the totals (a few minutes). `make test`
# runs both at 50 x 200.
SOAK_ENV := SOAK_CONNS=500 SOAK_MSGS=2000 SOAK_SECONDS=1800 HARNESS_TEST_SECONDS=2000
.PHONY: soak
soak: c-deps lib $(BUILD)/test_soak
	$(SOAK_ENV) ./$(BUILD)/test_soak
	$(SOAK_ENV) $(CARGO) test --release --test soak -- --nocapture

# Benchmarks: not part of `make test`. Ratios from one run; see bench/src/main.rs.
$(BENCH_BUILD):
	mkdir -p $(BENCH_BUILD)

$(BENCH_BUILD)/raw_epoll: bench/c/raw_epoll.c bench/c/common.h | $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -o $@ $< -lpthread

$(BENCH_BUILD)/ponynet_c: bench/c/ponynet_c.c bench/c/common.h include/ponynet.h | $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -o $@ $< $(LDLIBS_C)

bench-programs: c-deps lib $(BENCH_BUILD)/raw_epoll $(BENCH_BUILD)/ponynet_c
	$(CARGO) build --release --manifest-path bench/Cargo.toml

bench: bench-programs
	BENCH_BIN=$(BENCH_BUILD) ./bench/target/release/ponynet-bench

bench-quick: bench-programs
	BENCH_QUICK=1 BENCH_BIN=$(BENCH_BUILD) BENCH_OUT=bench/quick ./bench/target/release/ponynet-bench

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libponynet.so
	install -m 644 include/ponynet.h $(DESTDIR)$(PREFIX)/include/ponynet.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -n1)|" \
	  ponynet.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ponynet.pc

clean:
	$(CARGO) clean
	rm -rf $(BUILD) $(BENCH_BUILD) bench/target

FORCE:
