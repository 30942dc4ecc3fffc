#!/bin/sh
# Export control of the built library: every ABI symbol is exported, nothing
# else leaks (no Rust-mangled symbol, nothing outside the ABI's prefixes), and
# the soname is libponynet.so.0. Usage: check_exports.sh LIB SYMBOL_LIST...
lib=$1; shift; passed=0; failed=0
check() { if [ "$1" = 0 ]; then passed=$((passed + 1)); echo "ok   $2"; else failed=$((failed + 1)); echo "FAIL $2"; fi; }

exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBRVW]$/ {print $3}' | sort -u)
tmp=$(mktemp); printf '%s\n' "$exported" > "$tmp"
for list in "$@"; do
  missing=$(sort -u "$list" | comm -23 - "$tmp")
  [ -z "$missing" ]; check $? "every symbol of $(basename "$list") is exported${missing:+ (missing: $(echo $missing))}"
done
rm -f "$tmp"

mangled=$(printf '%s\n' "$exported" | grep -E '^_ZN|^_R' || true)
[ -z "$mangled" ]; check $? "no Rust-mangled symbol is exported${mangled:+ ($(echo $mangled | head -c 300))}"

foreign=$(printf '%s\n' "$exported" | grep -vE '^(pony_|ponynet_|ponyint_)' || true)
[ -z "$foreign" ]; check $? "only pony_/ponynet_/ponyint_ symbols are exported${foreign:+ ($(echo $foreign | head -c 300))}"

soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
[ "$soname" = "libponynet.so.0" ]; check $? "soname is libponynet.so.0 (got '$soname')"

echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
