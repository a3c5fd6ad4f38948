#!/usr/bin/env bash
# Apply exactly PLANFILE (reconciler-apply.yml), waiting for stores another apply holds.
#
#   apply.sh PLANFILE OUT    outputs kept in OUT/apply.out, apply.err, apply.code
#
# Applies are never cancelled by GitHub (the workflow has no shared concurrency group), so
# two merges can apply at once. They serialize per store on the reconciler's lease: a store
# another job holds reports `locked` and is not touched. Applying the same plan again then
# resumes it: stores this plan already applied are skipped, and a store the other job
# changed makes the plan stale, which is refused with nothing sent. So this waits and tries
# again while a store is locked, at most RECONCILER_LOCK_ATTEMPTS times
# (default 10, RECONCILER_LOCK_WAIT seconds apart, default 60: longer than one lease renewal).
set -uo pipefail

plan=$1
out=$2
attempts=${RECONCILER_LOCK_ATTEMPTS:-10}
wait=${RECONCILER_LOCK_WAIT:-60}
mkdir -p "$out"

for ((attempt = 1; ; attempt++)); do
  reconciler apply "$plan" >"$out/apply.out" 2>"$out/apply.err"
  code=$?
  cat "$out/apply.out"
  cat "$out/apply.err" >&2
  # One line per store: "BACKEND/STORE: locked, 0 requests - locked by OWNER until TIME".
  if [ "$code" = 1 ] && grep -q '^[^ ]*: locked, ' "$out/apply.out" && [ "$attempt" -lt "$attempts" ]; then
    echo "a store is being applied by another job; trying again in ${wait}s (attempt $attempt of $attempts)" >&2
    sleep "$wait"
    continue
  fi
  break
done
echo "$code" >"$out/apply.code"
exit "$code"
