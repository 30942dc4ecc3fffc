#!/bin/sh
# `make install` into a scratch prefix: the soname links, the header and
# ponynet.pc are there, and a program builds with pkg-config and runs.
set -u
prefix=$(mktemp -d); passed=0; failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2"; fi; }
make -s install PREFIX="$prefix" >/dev/null 2>&1; check $? "make install PREFIX=$prefix"
[ -f "$prefix/lib/libponynet.so.0" ] && [ -L "$prefix/lib/libponynet.so" ]; check $? "library with its soname link"
[ -f "$prefix/include/ponynet.h" ]; check $? "header installed"
flags=$(PKG_CONFIG_PATH="$prefix/lib/pkgconfig" pkg-config --cflags --libs ponynet 2>/dev/null); check $? "pkg-config knows ponynet"
cat > "$prefix/hello.c" <<'C'
#include <ponynet.h>
#include <stdio.h>
int main(void) { printf("%s\n", ponynet_version()); return ponynet_asio_stop() ? 0 : 1; }
C
${CC:-cc} -o "$prefix/hello" "$prefix/hello.c" $flags -Wl,-rpath,"$prefix/lib" 2>/dev/null; check $? "a program builds with pkg-config flags"
"$prefix/hello" >/dev/null 2>&1; check $? "and runs against the installed library"
rm -rf "$prefix"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
