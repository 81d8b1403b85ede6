#!/usr/bin/env bash
# Control one service started by scripts/infra/up.sh — for chaos tests and debugging.
#
#   scripts/infra/ctl.sh ACTION SERVICE [--no-wait]
#
#   ACTION   start    start it with the same command line as up.sh, wait until it answers
#            stop     SIGTERM, wait for exit (SIGKILL after 30 s)
#            restart  stop, then start
#            kill     SIGKILL (crash; Kafka/Redis data dirs are kept)
#            pause    SIGSTOP (process hangs: connections stay open, nothing answers)
#            resume   SIGCONT
#            status   print "SERVICE running|paused|stopped [pid]" (exit 0 when running)
#            pid      print the pid (exit 1 when not running)
#   SERVICE  redis | kafka | cluster-node N | cluster-node-N   (N = 1..6, port 17000+N)
#
# .infra/started is kept up to date, so down.sh stops whatever is running at that time.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$RW_ROOT"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

[[ $# -ge 2 ]] || usage
action=$1 svc=$2
shift 2
if [[ "$svc" == cluster-node ]]; then
  [[ $# -ge 1 ]] || usage
  svc="cluster-node-$1"
  shift
fi
wait_ready=1
for arg in "$@"; do
  case "$arg" in
    --no-wait) wait_ready=0 ;;
    *) usage ;;
  esac
done
case "$svc" in
  redis | kafka) ;;
  cluster-node-[1-9])
    ((${svc#cluster-node-} <= CLUSTER_SIZE)) || infra_die "cluster nodes are 1..$CLUSTER_SIZE"
    ;;
  *) usage ;;
esac

running_pid() { service_pid "$svc" 2>/dev/null; }

forget() {
  started_remove "$svc"
  rm -f "$(service_pidfile "$svc")"
}

do_stop() {
  local pid
  if ! pid="$(running_pid)"; then
    forget
    infra_log "$svc not running"
    return 0
  fi
  terminate_pid "$pid" 30
  forget
  infra_log "$svc stopped (pid $pid)"
}

do_start() {
  local pid t0=$SECONDS
  if pid="$(running_pid)"; then
    infra_log "$svc already running (pid $pid)"
    return 0
  fi
  if [[ "$svc" == kafka ]]; then
    start_kafka
    if ((wait_ready)); then
      wait_kafka "$KAFKA_READY_TIMEOUT" || infra_die "kafka did not become ready"
    fi
  else
    command -v redis-server >/dev/null 2>&1 || ensure_redis_bins
    start_redis "$svc"
    if ((wait_ready)); then wait_redis "$svc" 15 || exit 1; fi
  fi
  infra_log "$svc started (pid $(<"$(service_pidfile "$svc")"), $((SECONDS - t0))s)"
}

signal_running() { # signal_running SIGNAL VERB
  local pid
  pid="$(running_pid)" || infra_die "$svc is not running"
  kill "-$1" "$pid"
  infra_log "$svc $2 (pid $pid)"
}

case "$action" in
  start) infra_lock; do_start ;;
  stop) infra_lock; do_stop ;;
  restart) infra_lock; do_stop; do_start ;;
  kill)
    infra_lock
    if pid="$(running_pid)"; then
      kill -KILL "$pid"
      wait_pid_gone "$pid" 10 || infra_err "$svc (pid $pid) still present after SIGKILL"
      forget
      infra_log "$svc killed (pid $pid)"
    else
      forget
      infra_log "$svc not running"
    fi
    ;;
  pause) signal_running STOP paused ;;
  resume) signal_running CONT resumed ;;
  status)
    if pid="$(running_pid)"; then
      if [[ "$(pid_state "$pid")" == T ]]; then echo "$svc paused $pid"; else echo "$svc running $pid"; fi
    else
      echo "$svc stopped"
      exit 1
    fi
    ;;
  pid) running_pid ;;
  *) usage ;;
esac
