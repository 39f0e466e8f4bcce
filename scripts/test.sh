#!/usr/bin/env bash
# Runs the test suite and ends with the line "N passed, N failed" (bun test does not print it).
# Extra arguments go to `bun test` (e.g. a path filter).
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp)
# HTTP tests start real servers (a PostgreSQL database each); give tests and their beforeAll/afterAll
# hooks room on a loaded 2-core box. Bun 1.4 ignores bunfig's [test] timeout, and hooks only follow
# the command line's.
./node_modules/.bin/bun test --timeout 30000 "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
p=$(grep -E '^ *[0-9]+ pass$' "$out" | tail -1 | awk '{print $1}')
f=$(grep -E '^ *[0-9]+ fail$' "$out" | tail -1 | awk '{print $1}')
s=$(grep -E '^ *[0-9]+ skip$' "$out" | tail -1 | awk '{print $1}')
rm -f "$out"
if [ -z "${p:-}" ] && [ "$rc" -ne 0 ]; then f=${f:-1}; fi
echo "${p:-0} passed, ${f:-0} failed, ${s:-0} skipped"
exit "$rc"
