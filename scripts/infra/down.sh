#!/usr/bin/env bash
# Stop what scripts/infra started — exactly the processes listed in .infra/started, each only if
# its pid still belongs to that service — and remove their data dirs under .infra/.
#
#   npm run infra:down [-- --keep-data]
#
# SIGTERM (and SIGCONT, in case a process was paused), wait, SIGKILL after 15 s.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RW_ROOT"

keep_data=0
for arg in "$@"; do
  case "$arg" in
    --keep-data) keep_data=1 ;;
    -h | --help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) infra_die "unknown option '$arg'" ;;
  esac
done

infra_lock

svcs=() pids=()
if [[ -f "$STARTED_FILE" ]]; then
  while read -r svc pid _; do
    [[ -n "${svc:-}" && -n "${pid:-}" ]] || continue
    if pid_is_service "$svc" "$pid"; then
      svcs+=("$svc") pids+=("$pid")
    fi
  done <"$STARTED_FILE"
fi

# Signal all first, then wait for all: Redis exits at once, Kafka takes a few seconds.
for pid in "${pids[@]}"; do
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
done
deadline=$((SECONDS + 15))
for i in "${!pids[@]}"; do
  pid=${pids[$i]}
  while pid_alive "$pid" && ((SECONDS < deadline)); do sleep 0.2; done
  if pid_alive "$pid"; then
    infra_err "${svcs[$i]} (pid $pid) still running 15s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 10 || infra_err "${svcs[$i]} (pid $pid) still present after SIGKILL"
  fi
done

rm -f "$STARTED_FILE" "$REDIS_DIR/redis.pid" "$KAFKA_DIR/kafka.pid"
rm -f "$CLUSTER_DIR"/*/redis.pid 2>/dev/null || true
env_unset REDIS_URL KAFKA_BROKERS REDIS_CLUSTER_NODES REDIS_CLUSTER_ALL_NODES

if ((keep_data)); then
  infra_log "infra down: stopped ${#pids[@]} process(es), data kept under .infra/"
else
  # Only the dirs these scripts create; .infra/ itself (lock, logs of helm builds) stays.
  rm -rf "$REDIS_DIR" "$KAFKA_DIR" "$KAFKA_DATA" "$CLUSTER_DIR"
  infra_log "infra down: stopped ${#pids[@]} process(es), removed data under .infra/"
fi
