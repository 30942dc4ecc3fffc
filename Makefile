# libponynet — build, demo, test, install.
#   make           release library (target/release/libponynet.so)
#   make demo      library + the C demo, run through the generated header
#   make test      every Rust test, every C test, and the C tests under valgrind
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
TEST_BINS := $(patsubst c_tests/%.c,$(BUILD)/%,$(TEST_SRCS))
HARNESS   := c_tests/harness.c c_tests/owner.c
HARNESS_H := c_tests/harness.h c_tests/owner.h include/ponynet.h

.PHONY: all lib demo test test-rust test-c test-valgrind install clean deps rust-deps c-deps FORCE

all: lib

deps: c-deps rust-deps

# CI and fresh machines: install what the C side needs when it is missing.
c-deps:
	@missing=""; \
	command -v $(CC) >/dev/null 2>&1 || missing="$$missing gcc"; \
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

$(BUILD):
	mkdir -p $(BUILD)

$(BUILD)/demo: examples/c/demo.c include/ponynet.h | $(BUILD)
	$(CC) $(CFLAGS_C) -o $@ $< $(LDLIBS_C)

demo: c-deps lib $(BUILD)/demo
	./$(BUILD)/demo

test: deps test-rust test-c test-valgrind
	@echo "make test: all suites passed"

test-rust: rust-deps
	$(CARGO) test --features fault-injection

test-c: c-deps lib $(TEST_BINS)
	@sh c_tests/check_exports.sh $(LIB) data/abi_symbols.txt
	@sh c_tests/run.sh $(TEST_BINS)

test-valgrind: c-deps lib $(TEST_BINS)
	@HARNESS_TEST_SECONDS=120 RUNNER="$(VALGRIND)" sh c_tests/run.sh $(TEST_BINS)

install: lib
	install -d $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(LIB) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libponynet.so
	install -m 644 include/ponynet.h $(DESTDIR)$(PREFIX)/include/ponynet.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e "s|@VERSION@|$$(sed -n 's/^version = \"\(.*\)\"/\1/p' Cargo.toml | head -n1)|" \
	  ponynet.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/ponynet.pc

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

FORCE:
