#!/usr/bin/env bash
# Exit 0 when a service these scripts started is running now (a ledger entry whose pid is still
# that service), 1 otherwise. A ledger left by a crashed run lists dead pids: that is "not running",
# so the caller that starts services also stops them (scripts/test.sh, scripts/chaos.sh).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -f "$STARTED_FILE" ]] || exit 1
while read -r svc pid _; do
  [[ -n "${svc:-}" && -n "${pid:-}" ]] || continue
  pid_is_service "$svc" "$pid" && exit 0
done <"$STARTED_FILE"
exit 1
