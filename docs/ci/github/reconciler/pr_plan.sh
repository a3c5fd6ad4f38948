#!/usr/bin/env bash
# The pull-request plan (reconciler-plan.yml): validate, fmt --check and plan, each command's
# output kept in $OUT, then the comment body in $OUT/comment.md, written whatever failed.
# Runs in the project (the repository's root) and leaves the plan in plan.json there.
#
#   RECONCILER_STATE   the state store, read-only role (required: without it the plan would be
#                      made against an empty local state and show everything as new)
#   BASE_REV           the base branch's commit (HEAD^1 of the pull request's test merge):
#                      reconciler.yaml and .github/ are compared with it to call out changed
#                      backend URLs, secret references and CI files
#   RECONCILER_CI_OUT  where outputs go (default reconciler-ci)
#
# It exits 0 when the comment is written, so the workflow posts it before failing the job;
# the job's outcome goes to $GITHUB_OUTPUT as exitcode=: 0 planned (changes or not),
# 1 not set up, invalid, not canonical or plan error, 3 refused by the safety thresholds.
#
# `--no-refresh`: even the backends that can be read (VirtPOS) are planned from the state
# store, so this job needs no backend credential and sends nothing to any backend URL,
# including one this pull request changed.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${RECONCILER_CI_OUT:-reconciler-ci}"
rm -rf "$out" plan.json
mkdir -p "$out"

# keep NAME COMMAND...: run it, its stdout, stderr and exit status into $out/NAME.*
keep() {
  local name=$1
  shift
  "$@" >"$out/$name.out" 2>"$out/$name.err"
  echo $? >"$out/$name.code"
}

setup_error() {
  echo "$1" >"$out/setup.err"
  echo 1 >"$out/setup.code"
}

if [ -z "${RECONCILER_STATE:-}" ]; then
  setup_error "RECONCILER_STATE is empty: set the repository secret RECONCILER_STATE_READ to the state \
store's URL for a role that may only read (docs/ci.md, \"Secrets\"). Pull requests from forks get no secrets \
and cannot be planned."
elif [ -n "${BASE_REV:-}" ] && ! base=$(git rev-parse --verify --quiet "${BASE_REV}^{commit}"); then
  setup_error "The base commit ${BASE_REV} is not in the checkout: check out the pull request with \
fetch-depth: 2, so that its test merge commit has its parents."
elif [ -n "${BASE_REV:-}" ]; then
  echo "$base" >"$out/base-sha.txt"
  if git cat-file -e "${base}:reconciler.yaml" 2>/dev/null; then
    git show "${base}:reconciler.yaml" >"$out/base-reconciler.yaml"
  fi
  git diff --name-only "$base" HEAD -- .github >"$out/changed-ci-files.txt"
fi

if [ ! -f "$out/setup.code" ]; then
  keep validate reconciler validate
  if [ "$(cat "$out/validate.code")" = 0 ]; then
    keep fmt reconciler fmt --check
    keep plan reconciler plan --no-refresh --out plan.json --format markdown --detailed-exitcode
  fi
fi

code_of() { if [ -f "$out/$1.code" ]; then cat "$out/$1.code"; else echo "$2"; fi; }
setup=$(code_of setup 0)
validate=$(code_of validate 1)
plan=$(code_of plan 1)
fmt=$(code_of fmt 0)
if [ "$setup" != 0 ] || [ "$validate" != 0 ]; then
  outcome=1
elif [ "$plan" = 0 ] || [ "$plan" = 2 ]; then
  if [ "$fmt" = 0 ]; then outcome=0; else outcome=1; fi
elif [ "$plan" = 3 ]; then
  outcome=3
else
  outcome=1
fi

if ! python3 "$here/comment.py" plan "$out" >"$out/comment.md" 2>"$out/comment.err"; then
  cat "$out/comment.err" >&2
  printf '%s\n' "<!-- reconciler-plan -->" "### Reconciler plan: the comment could not be written" "" \
    "The plan job failed while writing this comment; the run log says why." >"$out/comment.md"
  outcome=1
fi
for name in setup validate fmt plan; do
  if [ -f "$out/$name.code" ]; then
    echo "$name: exit $(cat "$out/$name.code")"
    cat "$out/$name.err" >&2
  fi
done
echo "exitcode=$outcome" >>"${GITHUB_OUTPUT:-/dev/null}"
