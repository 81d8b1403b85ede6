# shellcheck shell=bash
# Shared helpers for scripts/infra/{up,down,ctl}.sh — source it, do not run it.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Everything lives under the repository root:
#   .infra/            run state: pid files, logs, data dirs, the ledger `started`
#   .infra/started     one line per process that these scripts started: "<service> <pid>"
#   .cache/kafka/libs  Kafka classpath (from kafka-pom.xml), .cache/bin: helm
#   .infra.env         sourceable KEY=value lines for tests (REDIS_URL, KAFKA_BROKERS, ...)
#
# Services: redis | kafka | cluster-node-N (N = 1..6, port 17000+N).
# Processes are only ever signalled after checking that the pid is still the process we started
# (its /proc/<pid>/cmdline must match), so a recycled pid is never hit.

RW_INFRA_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RW_ROOT="$(cd "$RW_INFRA_LIB_DIR/../.." && pwd)"

INFRA_DIR="$RW_ROOT/.infra"
CACHE_DIR="$RW_ROOT/.cache"
CACHE_BIN="$CACHE_DIR/bin"
ENV_FILE="$RW_ROOT/.infra.env"
STARTED_FILE="$INFRA_DIR/started"

REDIS_HOST=127.0.0.1
REDIS_PORT="${RW_INFRA_REDIS_PORT:-16379}"
REDIS_DIR="$INFRA_DIR/redis"

KAFKA_HOST=127.0.0.1
KAFKA_PORT="${RW_INFRA_KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${RW_INFRA_KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_DIR="$INFRA_DIR/kafka"            # config, logs, pid
KAFKA_DATA="$INFRA_DIR/kafka-data"      # log.dirs (KRaft metadata + topic data)
KAFKA_PROPS="$KAFKA_DIR/server.properties"
KAFKA_LIBS="$CACHE_DIR/kafka/libs"
KAFKA_POM="$RW_INFRA_LIB_DIR/kafka-pom.xml"
KAFKA_LOG4J="$RW_INFRA_LIB_DIR/kafka-log4j2.properties"
# base64url of the 16 bytes "ratewarden-kafka": a fixed, valid KRaft cluster id.
KAFKA_CLUSTER_ID="cmF0ZXdhcmRlbi1rYWZrYQ"
KAFKA_JVM_OPTS=(-Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true)
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_POM" | head -n1)"
KAFKA_READY_TIMEOUT="${RW_INFRA_KAFKA_TIMEOUT:-90}"

CLUSTER_BASE_PORT="${RW_INFRA_CLUSTER_BASE_PORT:-17000}"
CLUSTER_SIZE=6        # 3 primaries + 3 replicas
CLUSTER_PRIMARIES=3
CLUSTER_DIR="$INFRA_DIR/cluster"

HELM_V4_PKG="helm.sh/helm/v4/cmd/helm"
HELM_V4_VERSION="v4.3.2"
HELM_V3_PKG="helm.sh/helm/v3/cmd/helm"
HELM_V3_VERSION="v3.21.4"
HELM_BIN_PATH="$CACHE_BIN/helm"

export PATH="$CACHE_BIN:$PATH"
export KAFKAJS_NO_PARTITIONER_WARNING=1

# ---------------------------------------------------------------- messages

infra_log() { printf '%s\n' "$*"; }
infra_err() { printf 'infra: %s\n' "$*" >&2; }
infra_die() { infra_err "$*"; exit 1; }

# tail_log FILE... — print the last lines of each existing log to stderr.
tail_log() {
  local f
  for f in "$@"; do
    [[ -s "$f" ]] || continue
    printf -- '--- last lines of %s ---\n' "${f#"$RW_ROOT"/}" >&2
    tail -n 40 "$f" >&2
  done
}

# ---------------------------------------------------------------- services

cluster_port() { echo $((CLUSTER_BASE_PORT + $1)); }            # cluster_port N
cluster_node_dir() { echo "$CLUSTER_DIR/$(cluster_port "$1")"; }

# service_port SERVICE
service_port() {
  case "$1" in
    redis) echo "$REDIS_PORT" ;;
    kafka) echo "$KAFKA_PORT" ;;
    cluster-node-[1-9]) cluster_port "${1#cluster-node-}" ;;
    *) infra_die "unknown service '$1'" ;;
  esac
}

service_pidfile() {
  case "$1" in
    redis) echo "$REDIS_DIR/redis.pid" ;;
    kafka) echo "$KAFKA_DIR/kafka.pid" ;;
    cluster-node-[1-9]) echo "$(cluster_node_dir "${1#cluster-node-}")/redis.pid" ;;
    *) infra_die "unknown service '$1'" ;;
  esac
}

# service_logs SERVICE — log files worth showing when it fails.
service_logs() {
  case "$1" in
    redis) echo "$REDIS_DIR/redis.log" ;;
    kafka) echo "$KAFKA_DIR/kafka.out $KAFKA_DIR/logs/server.log" ;;
    cluster-node-[1-9]) echo "$(cluster_node_dir "${1#cluster-node-}")/redis.log" ;;
  esac
}

cluster_services() {
  local n
  for ((n = 1; n <= CLUSTER_SIZE; n++)); do echo "cluster-node-$n"; done
}

# ---------------------------------------------------------------- processes

# pid_state PID — one-letter state from /proc (R, S, D, T, Z, ...), empty when gone.
pid_state() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  echo "${stat%% *}"
}

# pid_alive PID — exists and is not a zombie (a stopped/paused process counts as alive).
pid_alive() {
  [[ "$1" =~ ^[0-9]+$ ]] || return 1
  local s
  s="$(pid_state "$1")"
  [[ -n "$s" && "$s" != Z && "$s" != X ]]
}

pid_cmdline() { tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null || true; }

# pid_is_service SERVICE PID — PID is alive and is that service's process as we start it.
pid_is_service() {
  local svc=$1 pid=$2 cmd port
  pid_alive "$pid" || return 1
  cmd="$(pid_cmdline "$pid")"
  port="$(service_port "$svc")"
  case "$svc" in
    kafka) [[ "$cmd" == *kafka.Kafka* && "$cmd" == *"$KAFKA_PROPS"* ]] ;;
    # redis rewrites its title to "redis-server 127.0.0.1:PORT [cluster]"
    *) [[ "$cmd" == *redis-server* && "$cmd" == *":$port"* ]] ;;
  esac
}

# service_pid SERVICE — print the pid of our running process for SERVICE; fail if none.
service_pid() {
  local f pid
  f="$(service_pidfile "$1")"
  [[ -f "$f" ]] || return 1
  pid="$(<"$f")"
  pid_is_service "$1" "$pid" || return 1
  echo "$pid"
}

# port_open PORT — something accepts TCP connections on 127.0.0.1:PORT.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_pid_gone PID SECONDS — 0 when the pid disappeared in time.
wait_pid_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# terminate_pid PID [GRACE_SECONDS] — SIGTERM (+SIGCONT in case it is paused), wait,
# SIGKILL after the grace period. Callers check ownership first.
terminate_pid() {
  local pid=$1 grace=${2:-15}
  pid_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  kill -CONT "$pid" 2>/dev/null || true
  if ! wait_pid_gone "$pid" "$grace"; then
    infra_err "pid $pid did not exit ${grace}s after SIGTERM; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_pid_gone "$pid" 10 || infra_err "pid $pid still present after SIGKILL"
  fi
}

# spawn PIDFILE LOGFILE CMD... — start CMD detached (own session, stdin /dev/null, output to
# LOGFILE) and write its pid to PIDFILE. The wrapper writes its own pid and then execs CMD, so
# the pid is CMD's whatever setsid does.
spawn() {
  local pidfile=$1 logfile=$2
  shift 2
  rm -f "$pidfile"
  # 9>&- : the child must not inherit the infra lock (see infra_lock).
  nohup setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$logfile" 2>&1 9>&- &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$pidfile" ]] && return 0
    sleep 0.05
  done
  infra_die "could not start: $*"
}

# infra_lock — serialize up/down/ctl (fd 9 on .infra/.lock, released when the script exits).
infra_lock() {
  mkdir -p "$INFRA_DIR"
  exec 9>"$INFRA_DIR/.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 9 || infra_die "another scripts/infra command holds .infra/.lock"
  fi
}

# ---------------------------------------------------------------- ledger (.infra/started)

started_add() { # started_add SERVICE PID
  mkdir -p "$INFRA_DIR"
  started_remove "$1"
  printf '%s %s\n' "$1" "$2" >>"$STARTED_FILE"
}

started_remove() { # started_remove SERVICE
  [[ -f "$STARTED_FILE" ]] || return 0
  local tmp="$STARTED_FILE.tmp.$$"
  awk -v s="$1" '$1 != s' "$STARTED_FILE" >"$tmp" || true
  mv -f "$tmp" "$STARTED_FILE"
}

started_pid() { # started_pid SERVICE — pid recorded for SERVICE, if any
  [[ -f "$STARTED_FILE" ]] || return 1
  awk -v s="$1" '$1 == s { p = $2 } END { if (p == "") exit 1; print p }' "$STARTED_FILE"
}

# ---------------------------------------------------------------- .infra.env

env_quote() {
  if [[ "$1" =~ ^[A-Za-z0-9_./:,@%+=-]*$ ]]; then printf '%s' "$1"; else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}

env_set() { # env_set KEY VALUE — replace or add one line, keep the others
  local tmp="$ENV_FILE.tmp.$$"
  { [[ -f "$ENV_FILE" ]] && grep -v -E "^(export )?$1=" "$ENV_FILE" || true; } >"$tmp"
  printf '%s=%s\n' "$1" "$(env_quote "$2")" >>"$tmp"
  mv -f "$tmp" "$ENV_FILE"
}

env_unset() { # env_unset KEY...
  [[ -f "$ENV_FILE" ]] || return 0
  local tmp="$ENV_FILE.tmp.$$" k pattern=""
  for k in "$@"; do pattern+="${pattern:+|}$k"; done
  grep -v -E "^(export )?($pattern)=" "$ENV_FILE" >"$tmp" || true
  mv -f "$tmp" "$ENV_FILE"
}

# ---------------------------------------------------------------- tools

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else infra_die "need root (or sudo) to run: $*"
  fi
}

ensure_redis_bins() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  infra_log "installing redis-server redis-tools (apt)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null ||
    infra_die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null ||
    infra_die "apt-get install redis-server redis-tools failed"
  command -v redis-server >/dev/null 2>&1 || infra_die "redis-server still missing after apt-get install"
}

redis_version() { redis-server --version | sed -n 's/.*v=\([0-9.]*\).*/\1/p'; }

# The Kafka classpath is complete when the marker names the same pom checksum.
kafka_libs_marker() { echo "$KAFKA_LIBS/.complete"; }
kafka_pom_sum() { sha256sum "$KAFKA_POM" | cut -d' ' -f1; }

ensure_kafka_libs() {
  local marker
  marker="$(kafka_libs_marker)"
  if [[ -f "$marker" && "$(<"$marker")" == "$(kafka_pom_sum)" ]] && compgen -G "$KAFKA_LIBS/kafka_2.13-*.jar" >/dev/null; then
    return 0
  fi
  command -v java >/dev/null 2>&1 || infra_die "java not found (Kafka needs Java 17+)"
  command -v mvn >/dev/null 2>&1 || infra_die "mvn not found (needed to fetch the Kafka jars)"
  infra_log "fetching Kafka $KAFKA_VERSION jars (maven) into ${KAFKA_LIBS#"$RW_ROOT"/}"
  rm -rf "$KAFKA_LIBS"
  mkdir -p "$KAFKA_LIBS"
  local out
  if ! out="$(mvn -B -q -f "$KAFKA_POM" \
    org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy-dependencies \
    -DoutputDirectory="$KAFKA_LIBS" -DincludeScope=runtime 2>&1)"; then
    printf '%s\n' "$out" | tail -n 40 >&2
    rm -rf "$KAFKA_LIBS"
    infra_die "maven could not fetch the Kafka jars"
  fi
  compgen -G "$KAFKA_LIBS/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null ||
    infra_die "kafka_2.13-$KAFKA_VERSION.jar missing after copy-dependencies"
  kafka_pom_sum >"$marker"
}

# helm_ok BIN — BIN runs and says a version.
helm_ok() { [[ -x "$1" ]] && "$1" version --short >/dev/null 2>&1; }

ensure_helm() {
  if helm_ok "$HELM_BIN_PATH"; then return 0; fi
  command -v go >/dev/null 2>&1 || infra_die "go not found (needed to build helm)"
  mkdir -p "$CACHE_BIN"
  infra_log "building helm $HELM_V4_VERSION with go install (a few minutes when cold)"
  local log="$INFRA_DIR/helm-install.log"
  mkdir -p "$INFRA_DIR"
  if GOBIN="$CACHE_BIN" GOFLAGS=-buildvcs=false go install \
    -ldflags "-X helm.sh/helm/v4/internal/version.version=$HELM_V4_VERSION" \
    "$HELM_V4_PKG@$HELM_V4_VERSION" >"$log" 2>&1 && helm_ok "$HELM_BIN_PATH"; then
    return 0
  fi
  tail -n 20 "$log" >&2
  infra_err "helm $HELM_V4_VERSION failed; falling back to $HELM_V3_VERSION"
  local ld="-X helm.sh/helm/v3/internal/version.version=$HELM_V3_VERSION"
  ld+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36"
  if GOBIN="$CACHE_BIN" GOFLAGS=-buildvcs=false go install -ldflags "$ld" \
    "$HELM_V3_PKG@$HELM_V3_VERSION" >>"$log" 2>&1 && helm_ok "$HELM_BIN_PATH"; then
    return 0
  fi
  tail -n 20 "$log" >&2
  infra_die "could not build helm (see ${log#"$RW_ROOT"/})"
}

# ---------------------------------------------------------------- Redis

redis_cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }           # redis_cli PORT ARGS...
redis_ping() { [[ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" == PONG ]]; }

# redis_cmdline SERVICE — the full command line up.sh and ctl.sh use.
redis_cmdline() {
  local svc=$1 port dir
  port="$(service_port "$svc")"
  if [[ "$svc" == redis ]]; then dir="$REDIS_DIR"; else dir="$(cluster_node_dir "${svc#cluster-node-}")"; fi
  local args=(redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --daemonize no
    --dir "$dir" --logfile '' --protected-mode yes)
  if [[ "$svc" == cluster-node-* ]]; then
    args+=(--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 3000
      --cluster-replica-validity-factor 0)
  fi
  printf '%s\0' "${args[@]}"
}

# start_redis SERVICE — start one Redis process (not waiting for it); records it.
start_redis() {
  local svc=$1 pidfile port dir log
  pidfile="$(service_pidfile "$svc")"
  port="$(service_port "$svc")"
  dir="$(dirname "$pidfile")"
  log="$(service_logs "$svc")"
  mkdir -p "$dir"
  if port_open "$port"; then infra_die "port $port is in use by a process these scripts did not start"; fi
  local -a cmd
  mapfile -d '' cmd < <(redis_cmdline "$svc")
  printf '=== %s start %s\n' "$(date -u +%FT%TZ)" "$svc" >>"$log"
  spawn "$pidfile" "$log" "${cmd[@]}"
  started_add "$svc" "$(<"$pidfile")"
}

# wait_redis SERVICE [SECONDS] — until PING answers; fails (with the log) if the process died.
wait_redis() {
  local svc=$1 t=${2:-15} port pid deadline
  port="$(service_port "$svc")"
  pid="$(<"$(service_pidfile "$svc")")"
  deadline=$((SECONDS + t))
  until redis_ping "$port"; do
    if ! pid_alive "$pid"; then
      infra_err "$svc exited during start-up"
      # shellcheck disable=SC2046
      tail_log $(service_logs "$svc")
      return 1
    fi
    if ((SECONDS >= deadline)); then
      infra_err "$svc did not answer PING on 127.0.0.1:$port within ${t}s"
      # shellcheck disable=SC2046
      tail_log $(service_logs "$svc")
      return 1
    fi
    sleep 0.1
  done
}

# cluster_field PORT FIELD — a field of CLUSTER INFO.
cluster_field() { redis_cli "$1" cluster info 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"; }

# ---------------------------------------------------------------- Kafka

write_kafka_props() {
  mkdir -p "$KAFKA_DIR" "$KAFKA_DATA" "$KAFKA_DIR/logs"
  cat >"$KAFKA_PROPS" <<EOF
# generated by scripts/infra (lib.sh write_kafka_props) — single-node KRaft for local tests
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT,CONTROLLER://$KAFKA_HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$KAFKA_HOST:$KAFKA_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$KAFKA_DATA
num.partitions=3
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=true
delete.topic.enable=true
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
log.retention.hours=24
log.segment.bytes=67108864
log.retention.check.interval.ms=60000
EOF
}

kafka_java() {
  java "${KAFKA_JVM_OPTS[@]}" -Dlog4j2.configurationFile="$KAFKA_LOG4J" \
    -Dkafka.logs.dir="$KAFKA_DIR/logs" -cp "$KAFKA_LIBS/*" "$@"
}

# format_kafka — format the KRaft log dir once (skipped when already formatted).
format_kafka() {
  [[ -f "$KAFKA_DATA/meta.properties" ]] && return 0
  local out
  if ! out="$(kafka_java kafka.tools.StorageTool format -t "$KAFKA_CLUSTER_ID" -c "$KAFKA_PROPS" --ignore-formatted 2>&1)"; then
    printf '%s\n' "$out" >&2
    infra_die "kafka storage format failed"
  fi
}

# start_kafka — write config, format, start the broker (not waiting for it); records it.
start_kafka() {
  ensure_kafka_libs
  write_kafka_props
  format_kafka
  if port_open "$KAFKA_PORT" || port_open "$KAFKA_CONTROLLER_PORT"; then
    infra_die "port $KAFKA_PORT or $KAFKA_CONTROLLER_PORT is in use by a process these scripts did not start"
  fi
  local pidfile
  pidfile="$(service_pidfile kafka)"
  printf '=== %s start kafka\n' "$(date -u +%FT%TZ)" >>"$KAFKA_DIR/kafka.out"
  spawn "$pidfile" "$KAFKA_DIR/kafka.out" java "${KAFKA_JVM_OPTS[@]}" \
    -Dlog4j2.configurationFile="$KAFKA_LOG4J" -Dkafka.logs.dir="$KAFKA_DIR/logs" \
    -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_PROPS"
  started_add kafka "$(<"$pidfile")"
}

# kafka_check ARGS... — run kafka-check.mjs (kafkajs from node_modules).
kafka_check() {
  command -v node >/dev/null 2>&1 || infra_die "node not found"
  [[ -d "$RW_ROOT/node_modules/kafkajs" ]] || infra_die "node_modules/kafkajs missing (run npm ci)"
  node "$RW_INFRA_LIB_DIR/kafka-check.mjs" --brokers "$KAFKA_HOST:$KAFKA_PORT" "$@"
}

# wait_kafka [SECONDS] — until an admin client lists topics; fails (with logs) otherwise.
wait_kafka() {
  local t=${1:-$KAFKA_READY_TIMEOUT} pid
  pid="$(<"$(service_pidfile kafka)")"
  if ! kafka_check wait --timeout "$t" --pid "$pid"; then
    # shellcheck disable=SC2046
    tail_log $(service_logs kafka)
    return 1
  fi
}
