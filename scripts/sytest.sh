#!/usr/bin/env bash
# `make sytest`: matrix-org's SyTest (the kit in ../shared/sytest, or $HS_SYTEST_DIR) against a fresh
# dist/hs. The tests named in sytest/whitelist.txt must pass; a whitelisted test that fails is run
# once more (its whole file, since SyTest's fixtures are per file) before it counts as failed, so one
# slow moment on a loaded machine does not fail CI. Tests that fail on purpose are listed with the
# reason in sytest/expected-failures.txt. Extra arguments go to run-tests.pl (e.g. test files).
# Ends with "N passed, N failed" over the whitelisted tests; exit 1 when one of them failed twice.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
KIT=${HS_SYTEST_DIR:-$ROOT/../shared/sytest}
OUT=${HS_SYTEST_OUT:-$ROOT/.test-tmp/sytest}
if [ ! -x "$KIT/run-sytest.sh" ]; then
  echo "sytest: skipped: no SyTest kit at $KIT (set HS_SYTEST_DIR to a folder with run-sytest.sh)"
  echo "0 passed, 0 failed, 0 skipped"
  exit 0
fi
./node_modules/.bin/bun scripts/build.ts native >/dev/null || { echo "sytest: building dist/hs failed"; echo "0 passed, 1 failed"; exit 1; }
export HS_SYTEST_CONFIG="$ROOT/sytest/config.json"
WL="$ROOT/sytest/whitelist.txt"
XF="$ROOT/sytest/expected-failures.txt"
names() { sed 's/#.*//; s/^[[:space:]]*//; s/[[:space:]]*$//' "$1" | grep -v '^$' | sort -u; }

mkdir -p "$OUT"
rm -rf "$OUT/run1" "$OUT/run2"
"$KIT/run-sytest.sh" --hs-binary ./dist/hs --out "$OUT/run1" -- -W "$WL" "$@" | tail -1
if [ ! -s "$OUT/run1/passed.txt" ]; then
  echo "sytest: the run produced no results (setup failed?):"; tail -20 "$OUT/run1/sytest.stderr" 2>/dev/null
  echo "0 passed, 1 failed"; exit 1
fi
# A test's name from a line of failed.txt / passed.txt / the TAP log.
strip() { sed 's/^FAILED: //; s/^(expected fail) //; s/ # TODO.*$//; s/ ([0-9]* subtests)$//' "$1" | sort -u; }
names "$WL" > "$OUT/whitelist.sorted"
strip "$OUT/run1/failed.txt" > "$OUT/failed1.txt"   # whitelisted tests that failed (the rest are expected fails)
strip "$OUT/run1/passed.txt" > "$OUT/passed1.txt"

final_failed="$OUT/failed1.txt"
if [ -s "$OUT/failed1.txt" ]; then
  # The file of each failed test: from the kit's baseline, else from the test sources.
  src=$(ls -d "${TMPDIR:-/tmp}"/hs-sytest-src-* 2>/dev/null | head -1)
  files=$(while IFS= read -r n; do
    f=$(awk -F'\t' -v n="$n" '$3==n {print $2; exit}' "$KIT"/baseline-*.tsv 2>/dev/null)
    [ -z "$f" ] && [ -n "$src" ] && f=$(cd "$src" && grep -rlF -- "\"$n\"" tests | head -1)
    [ -n "$f" ] && echo "$f"
  done < "$OUT/failed1.txt" | sort -u)
  echo "sytest: $(wc -l < "$OUT/failed1.txt") whitelisted test(s) failed; running their files once more: $(echo $files)"
  if [ -n "$files" ]; then
    # shellcheck disable=SC2086
    "$KIT/run-sytest.sh" --hs-binary ./dist/hs --out "$OUT/run2" -- -W "$OUT/failed1.txt" $files | tail -1
    strip "$OUT/run2/passed.txt" > "$OUT/passed2.txt"
    # Failed for good: failed again, or not run again (its file was not found).
    comm -23 "$OUT/failed1.txt" "$OUT/passed2.txt" > "$OUT/failed2.txt"
    final_failed="$OUT/failed2.txt"
  fi
fi

wl_total=$(wc -l < "$OUT/whitelist.sorted")
n_failed=$(wc -l < "$final_failed")
n_passed=$(comm -12 "$OUT/whitelist.sorted" <(cat "$OUT/passed1.txt" "$OUT/passed2.txt" 2>/dev/null | sort -u) | wc -l)
extra=$(comm -13 "$OUT/whitelist.sorted" "$OUT/passed1.txt" | wc -l)
comm -13 "$OUT/whitelist.sorted" "$OUT/passed1.txt" > "$OUT/passing-not-whitelisted.txt"
# Failures that are neither whitelisted nor explained in expected-failures.txt.
cut -f1 "$XF" 2>/dev/null | names /dev/stdin > "$OUT/expected.sorted"
grep -E '^not ok [0-9]+ .*# TODO' "$OUT/run1/sytest.tap" | sed 's/^not ok [0-9]* //' | strip /dev/stdin > "$OUT/xfail1.txt"
comm -23 "$OUT/xfail1.txt" "$OUT/expected.sorted" > "$OUT/unexplained.txt"
[ "$n_failed" -gt 0 ] && { echo "sytest: whitelisted tests that failed twice:"; sed 's/^/  /' "$final_failed"; }
[ "$extra" -gt 0 ] && echo "sytest: $extra passing test(s) are not on the whitelist yet ($OUT/passing-not-whitelisted.txt)"
[ -s "$OUT/unexplained.txt" ] && echo "sytest: $(wc -l < "$OUT/unexplained.txt") failing test(s) have no reason in sytest/expected-failures.txt ($OUT/unexplained.txt)"
echo "sytest: $n_passed of $wl_total whitelisted tests passed; $(wc -l < "$OUT/passed1.txt") passed in all (logs: $OUT)"
echo "$n_passed passed, $n_failed failed"
[ "$n_failed" -eq 0 ]
