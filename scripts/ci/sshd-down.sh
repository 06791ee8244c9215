#!/usr/bin/env bash
# Stop the sshd started by sshd-up.sh, its sessions, and commands started
# through it that outlived their ssh client (a command run by `ssh host
# cmd` without a tty survives the client: found by the SSH_CONNECTION
# "<server addr> <our port>" in /proc/PID/environ). Idempotent.
#   PXSH_SSHD_KEEP=1 keeps the keys for the next run.
set -uo pipefail
CI_NAME=sshd-down
. "$(dirname "$0")/lib.sh"
DIR=${PXSH_SSHD_DIR:-/tmp/pxsh-sshd}
PORT=${PXSH_SSHD_PORT:-2222}
ADDRS=${PXSH_SSHD_ADDRS:-127.0.0.1 127.0.0.2}
re=$(echo $ADDRS | sed 's/\./\\./g; s/ /|/g')

pids=()
sp=$(cat "$DIR/sshd.pid" 2>/dev/null || true)
if ci_running "$sp" sshd; then pids+=("$sp" $(ci_descendants "$sp")); fi
for e in /proc/[0-9]*/environ; do
  p=${e#/proc/}; p=${p%/environ}
  [ "$p" = $$ ] && continue
  if { tr '\0' '\n' <"$e"; } 2>/dev/null | grep -qE "^SSH_CONNECTION=[^ ]+ [0-9]+ ($re) $PORT\$"; then pids+=("$p"); fi
done
if [ ${#pids[@]} -gt 0 ]; then
  ci_log "stopping sshd and sessions: ${pids[*]}"
  kill -TERM "${pids[@]}" 2>/dev/null
  for _ in $(seq 30); do
    left=0
    for p in "${pids[@]}"; do [ -e "/proc/$p" ] && [ "$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)" != Z ] && left=1; done
    [ $left = 0 ] && break; sleep 0.1
  done
  [ $left = 1 ] && kill -KILL "${pids[@]}" 2>/dev/null
fi
rm -f "$DIR/sshd.pid"
[ "${PXSH_SSHD_KEEP:-0}" = 1 ] || rm -rf "$DIR"
ci_log "sshd down"
