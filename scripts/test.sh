#!/usr/bin/env bash
# `npm test`: the one command that provisions everything the tests need and runs them all.
# Installs and starts Redis, a Redis Cluster and Kafka (scripts/infra/up.sh), helm and Chromium
# when missing, type-checks, builds, then runs every suite with node's test runner. Services it
# started are stopped at the end; services that were already running are left alone.
#
#   npm test                    everything (unit, integration, e2e, helm, browser)
#   npm test -- --only unit     one suite folder under test/ (unit, integration, e2e, helm, browser)
#   npm test -- FILE...         just these test files
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

only=""
files=()
while (($#)); do
  case "$1" in
    --only) only="$2"; shift 2 ;;
    --only=*) only="${1#--only=}"; shift ;;
    *) files+=("$1"); shift ;;
  esac
done

if ((${#files[@]} == 0)); then
  if [[ -n "$only" ]]; then
    mapfile -t files < <(find "test/$only" -name '*.test.ts' | sort)
  else
    # chaos suites are long fault-injection runs with their own command (npm run test:chaos)
    mapfile -t files < <(find test -name '*.test.ts' -not -path 'test/chaos/*' | sort)
  fi
fi
((${#files[@]})) || { echo "no test files found" >&2; exit 1; }

# needs PREFIX — whether a test file under PREFIX is to run (no pipe into grep -q: under pipefail
# printf's SIGPIPE after grep's early exit made this answer "no" now and then)
needs() {
  local f
  for f in "${files[@]}"; do
    [[ "${f#./}" == "$1"* ]] && return 0
  done
  return 1
}

# --- provision -------------------------------------------------------------------------------
if [[ "$only" != "unit" ]]; then
  # services running before this run are left alone; what this run starts is stopped at its end —
  # also when up.sh itself fails partway (the trap is set before it)
  if ! bash scripts/infra/running.sh; then
    trap 'bash scripts/infra/down.sh >/dev/null 2>&1 || true' EXIT
  fi
  infra_args=(--cluster)
  needs 'test/helm/' && infra_args+=(--helm)
  bash scripts/infra/up.sh "${infra_args[@]}"
fi
if needs 'test/browser/'; then
  bash scripts/ensure-chromium.sh
fi

# --- check and build -------------------------------------------------------------------------
echo "== typecheck"
npx tsc -p tsconfig.json
echo "== build"
npx tsc -p tsconfig.build.json

# --- run ---------------------------------------------------------------------------------------
echo "== ${#files[@]} test files"
export KAFKAJS_NO_PARTITIONER_WARNING=1
export RW_TEST=1
node --import tsx --test --test-reporter=spec --test-timeout=600000 "${files[@]}"
