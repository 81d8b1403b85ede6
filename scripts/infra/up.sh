#!/usr/bin/env bash
# Start the local test infrastructure (no Docker): a private Redis, a single-node KRaft Kafka and,
# with --cluster, a 6-node Redis Cluster (3 primaries + 3 replicas). Idempotent: services that are
# already running and answering are reused. Writes .infra.env for the tests.
#
#   npm run infra:up [-- --cluster] [--helm] [--no-kafka] [--no-redis] [--check]
#
#   --cluster   also a Redis Cluster on 127.0.0.1:17001-17006 (REDIS_CLUSTER_NODES)
#   --helm      make sure helm is built into .cache/bin (HELM_BIN)
#   --no-kafka  skip Kafka        --no-redis  skip the standalone Redis
#   --check     after start, run the kafkajs produce/consume/commit check (kafka-check.mjs check)
#
# Stop everything with scripts/infra/down.sh; single services with scripts/infra/ctl.sh.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RW_ROOT"

want_redis=1 want_kafka=1 want_cluster=0 want_helm=0 want_check=0
for arg in "$@"; do
  case "$arg" in
    --cluster) want_cluster=1 ;;
    --helm) want_helm=1 ;;
    --no-kafka) want_kafka=0 ;;
    --no-redis) want_redis=0 ;;
    --check) want_check=1 ;;
    -h | --help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) infra_die "unknown option '$arg' (see --help)" ;;
  esac
done

infra_lock
t0=$SECONDS
since() { echo "$((SECONDS - $1))s"; }

# ------------------------------------------------------------------ Kafka (start first: slow JVM)
kafka_state=""   # started | reused | external
kafka_t0=$SECONDS
if ((want_kafka)); then
  ensure_kafka_libs   # also when reusing: ctl.sh restarts need the classpath
  if pid="$(service_pid kafka)"; then
    if [[ "$(pid_state "$pid")" == T ]]; then
      infra_die "kafka (pid $pid) is paused; run scripts/infra/ctl.sh resume kafka"
    fi
    kafka_state=reused
  elif port_open "$KAFKA_PORT"; then
    if kafka_check wait --timeout 5 >/dev/null 2>&1; then
      kafka_state=external
    else
      infra_die "port $KAFKA_PORT is in use but no Kafka answers there (not started by these scripts)"
    fi
  else
    kafka_t0=$SECONDS
    start_kafka
    kafka_state=started
  fi
fi

# ------------------------------------------------------------------ Redis
if ((want_redis || want_cluster)); then
  ensure_redis_bins
fi

# up_redis_service SERVICE — prints started | reused | external
up_redis_service() {
  local svc=$1 port pid
  port="$(service_port "$svc")"
  if pid="$(service_pid "$svc")"; then
    if [[ "$(pid_state "$pid")" == T ]]; then
      infra_die "$svc (pid $pid) is paused; run scripts/infra/ctl.sh resume $svc"
    fi
    wait_redis "$svc" 10 >&2 || exit 1
    echo reused
  elif port_open "$port"; then
    redis_ping "$port" || infra_die "port $port is in use but no Redis answers there (not started by these scripts)"
    [[ "$svc" == redis ]] || infra_die "port $port is taken by a Redis these scripts did not start; cluster nodes must be ours"
    echo external
  else
    start_redis "$svc"
    echo started
  fi
}

if ((want_redis)); then
  redis_state="$(up_redis_service redis)"
  if [[ "$redis_state" == started ]]; then wait_redis redis 15 || exit 1; fi
  env_set REDIS_URL "redis://$REDIS_HOST:$REDIS_PORT"
  env_set RW_INFRA_REDIS_VERSION "$(redis_version)"
  note="$redis_state"; [[ "$redis_state" == external ]] && note="reused, not started by scripts/infra"
  infra_log "redis $REDIS_HOST:$REDIS_PORT ready ($note)"
fi

# ------------------------------------------------------------------ Redis Cluster
cluster_ports() {
  local n
  for ((n = 1; n <= CLUSTER_SIZE; n++)); do cluster_port "$n"; done
}

# cluster_healthy — every node: state ok, knows all nodes, all slots ok; replicas linked.
cluster_healthy() {
  local p info
  for p in $(cluster_ports); do
    info="$(redis_cli "$p" cluster info 2>/dev/null | tr -d '\r')" || return 1
    grep -qx 'cluster_state:ok' <<<"$info" || return 1
    grep -qx "cluster_known_nodes:$CLUSTER_SIZE" <<<"$info" || return 1
    grep -qx 'cluster_slots_ok:16384' <<<"$info" || return 1
    if redis_cli "$p" info replication 2>/dev/null | tr -d '\r' | grep -qx 'role:slave'; then
      redis_cli "$p" info replication 2>/dev/null | tr -d '\r' | grep -qx 'master_link_status:up' || return 1
    fi
  done
}

wait_cluster_healthy() {
  local deadline=$((SECONDS + $1))
  until cluster_healthy; do
    if ((SECONDS >= deadline)); then
      infra_err "redis cluster not healthy after ${1}s"
      local p
      for p in $(cluster_ports); do
        printf -- '--- 127.0.0.1:%s cluster info ---\n' "$p" >&2
        redis_cli "$p" cluster info 2>&1 | tr -d '\r' | grep -E 'state|known|slots_(assigned|ok|fail)' >&2 || true
      done
      return 1
    fi
    sleep 0.3
  done
}

if ((want_cluster)); then
  cluster_started=0
  for svc in $(cluster_services); do
    st="$(up_redis_service "$svc")"
    [[ "$st" == started ]] && cluster_started=$((cluster_started + 1))
  done
  for svc in $(cluster_services); do wait_redis "$svc" 15 || exit 1; done

  if cluster_healthy; then
    :
  else
    # Decide from what the nodes know: all alone -> create; all know each other -> wait for
    # them to settle (restarted nodes); anything else -> reset and create again.
    alone=0 joined=0
    for p in $(cluster_ports); do
      known="$(cluster_field "$p" cluster_known_nodes)"
      assigned="$(cluster_field "$p" cluster_slots_assigned)"
      if [[ "$known" == 1 && "$assigned" == 0 ]]; then alone=$((alone + 1)); fi
      [[ "$known" == "$CLUSTER_SIZE" ]] && joined=$((joined + 1))
    done
    if ((joined == CLUSTER_SIZE)) && wait_cluster_healthy 20 2>/dev/null; then
      :
    else
      if ((alone != CLUSTER_SIZE)); then
        for p in $(cluster_ports); do
          redis_cli "$p" flushall >/dev/null 2>&1 || true
          redis_cli "$p" cluster reset hard >/dev/null 2>&1 || true
        done
      fi
      addrs=()
      for p in $(cluster_ports); do addrs+=("127.0.0.1:$p"); done
      if ! out="$(redis-cli --cluster create "${addrs[@]}" --cluster-replicas 1 --cluster-yes 2>&1)"; then
        printf '%s\n' "$out" | tail -n 30 >&2
        infra_die "redis-cli --cluster create failed"
      fi
      cluster_started=$((cluster_started > 0 ? cluster_started : 1))
    fi
    wait_cluster_healthy 60 || exit 1
  fi
  seeds=() all=()
  for ((n = 1; n <= CLUSTER_SIZE; n++)); do
    all+=("127.0.0.1:$(cluster_port "$n")")
    ((n <= CLUSTER_PRIMARIES)) && seeds+=("127.0.0.1:$(cluster_port "$n")")
  done
  env_set REDIS_CLUSTER_NODES "$(IFS=,; echo "${seeds[*]}")"
  env_set REDIS_CLUSTER_ALL_NODES "$(IFS=,; echo "${all[*]}")"
  env_set RW_INFRA_REDIS_VERSION "$(redis_version)"
  if ((cluster_started)); then note=started; else note=reused; fi
  infra_log "redis-cluster 127.0.0.1:$(cluster_port 1)-$(cluster_port "$CLUSTER_SIZE") ready ($CLUSTER_PRIMARIES primaries + $((CLUSTER_SIZE - CLUSTER_PRIMARIES)) replicas, $note)"
fi

# ------------------------------------------------------------------ Kafka readiness
if ((want_kafka)); then
  if [[ "$kafka_state" != external ]]; then
    if ! wait_kafka "$KAFKA_READY_TIMEOUT"; then
      if [[ "$kafka_state" == started ]]; then
        pid="$(started_pid kafka || true)"
        if [[ -n "$pid" ]] && pid_is_service kafka "$pid"; then terminate_pid "$pid" 15; fi
        started_remove kafka
        rm -f "$(service_pidfile kafka)"
      fi
      infra_die "kafka did not become ready on $KAFKA_HOST:$KAFKA_PORT"
    fi
  fi
  env_set KAFKA_BROKERS "$KAFKA_HOST:$KAFKA_PORT"
  env_set RW_INFRA_KAFKA_VERSION "$KAFKA_VERSION"
  case "$kafka_state" in
    started) note="started in $(since "$kafka_t0")" ;;
    reused) note=reused ;;
    external) note="reused, not started by scripts/infra" ;;
  esac
  infra_log "kafka $KAFKA_VERSION $KAFKA_HOST:$KAFKA_PORT ready ($note)"
  if ((want_check)); then
    kafka_check check --kafka-version "$KAFKA_VERSION" || exit 1
  fi
fi

# ------------------------------------------------------------------ helm
if ((want_helm)); then
  if helm_ok "$HELM_BIN_PATH"; then note=cached; else ensure_helm; note=built; fi
  env_set HELM_BIN "$HELM_BIN_PATH"
  infra_log "helm $("$HELM_BIN_PATH" version --template '{{.Version}}' 2>/dev/null) ${HELM_BIN_PATH#"$RW_ROOT"/} ready ($note)"
elif helm_ok "$HELM_BIN_PATH"; then
  env_set HELM_BIN "$HELM_BIN_PATH"
fi

exit 0
