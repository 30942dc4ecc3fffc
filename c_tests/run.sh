#!/bin/sh
# Runs each C test program (under $RUNNER, e.g. valgrind, when set), prints
# its output, and ends with the summed line "N passed, M failed".
passed=0; failed=0; status=0
for bin in "$@"; do
  echo "== $bin ${RUNNER:+(under ${RUNNER%% *})}"
  out=$($RUNNER "$bin" 2>&1); rc=$?
  printf '%s\n' "$out"
  line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed$' | tail -n 1)
  if [ -n "$line" ]; then
    p=${line%% passed*}; f=${line#*passed, }; f=${f%% failed*}
    passed=$((passed + p)); failed=$((failed + f))
  else
    failed=$((failed + 1)); echo "  (no summary line: the program crashed or timed out)"
  fi
  [ $rc -eq 0 ] || { status=1; [ -n "$line" ] && [ "$f" -eq 0 ] && { failed=$((failed + 1)); echo "  (exit status $rc)"; }; }
done
echo "$passed passed, $failed failed"
[ $status -eq 0 ] && [ $failed -eq 0 ]
