#!/usr/bin/env bash
# Installs the benchmark's external tools when missing (apt, as scripts/infra/lib.sh does for Redis):
# wrk (HTTP load), nginx-light (the NGINX limit_req peer), redis-tools (redis-benchmark, redis-cli).
# Idempotent; a tool that still cannot be installed is reported by the benchmark as "not installed".
set -uo pipefail

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
[[ -x /usr/sbin/nginx || -x /usr/bin/nginx ]] || missing+=(nginx-light)
command -v redis-benchmark >/dev/null 2>&1 || missing+=(redis-tools)
((${#missing[@]})) || exit 0

as_root() {
  if [[ $(id -u) -eq 0 ]]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo -n "$@"
  else echo "ensure-bench-tools: need root (or sudo) to install ${missing[*]}" >&2; return 1
  fi
}

echo "ensure-bench-tools: installing ${missing[*]} (apt)" >&2
as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null &&
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
  echo "ensure-bench-tools: apt-get install ${missing[*]} failed; those peers will be reported as not installed" >&2
# nginx-light's package starts a system nginx on :80; the benchmark runs its own instances
if [[ " ${missing[*]} " == *" nginx-light "* ]] && command -v systemctl >/dev/null 2>&1; then as_root systemctl disable --now nginx >/dev/null 2>&1 || true; fi
exit 0
