#!/usr/bin/env bash
# `npm run test:chaos`: fault injection against real processes — Redis paused and killed, a Redis
# Cluster primary killed, the Kafka broker down for 30 s, the analyzer and the sidecar killed and
# restarted, all under load. Every Redis, cluster and Kafka that a test stops is a PRIVATE one the
# test starts on its own ports; the shared services (scripts/infra) are only used, never stopped.
# Each test prints its figures as `FIGURE …` lines; a summary of them closes the run.
#
#   npm run test:chaos                    every test/chaos/*.test.ts (≈ 3 min on 2 cores)
#   npm run test:chaos -- FILE...         just these files
#
# Like scripts/test.sh it starts the shared Redis and Kafka when they are not running (and stops
# them at the end only then). Not part of `npm test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

files=("$@")
if ((${#files[@]} == 0)); then
  mapfile -t files < <(find test/chaos -maxdepth 1 -name '*.test.ts' | sort)
fi
((${#files[@]})) || { echo "no chaos test files found" >&2; exit 1; }

# what this run starts is stopped at its end, also when up.sh fails partway; services running
# before it are left alone
if ! bash scripts/infra/running.sh; then
  trap 'bash scripts/infra/down.sh >/dev/null 2>&1 || true' EXIT
fi
bash scripts/infra/up.sh   # Redis + Kafka (+ the Kafka jars the private brokers use)
command -v openssl >/dev/null 2>&1 || echo "chaos: openssl not found (only the TLS tests need it)" >&2

export KAFKAJS_NO_PARTITIONER_WARNING=1
export RW_TEST=1
log="$(mktemp)"
status=0
# one file at a time: the faults are timed and the machine has 2 cores
node --import tsx --test --test-concurrency=1 --test-reporter=spec --test-timeout=300000 "${files[@]}" 2>&1 | tee "$log" || status=$?
echo
echo "== chaos figures"
grep -E '^\s*FIGURE ' "$log" | sed -E 's/^\s*FIGURE /  /' || echo "  (none printed)"
rm -f "$log"
exit "$status"
