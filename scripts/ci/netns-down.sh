#!/usr/bin/env bash
# Undo netns-up.sh: kill the processes inside our namespaces (by pid, from
# `ip netns pids`), delete the namespaces, /etc/netns entries, the guard
# route and the state directory. Idempotent.
set -uo pipefail
CI_NAME=netns-down
. "$(dirname "$0")/lib.sh"
DIR=${PXSH_NETNS_DIR:-/tmp/pxsh-netns}
for f in /run/netns/pxsh-*; do
  [ -e "$f" ] || continue
  ns=${f#/run/netns/}
  pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
  if [ -n "${pids// /}" ]; then
    ci_log "stopping processes in $ns: $pids"
    kill -TERM $pids 2>/dev/null
    ci_until 3 sh -c "[ -z \"\$(ip netns pids $ns)\" ]" >/dev/null 2>&1 || {
      pids=$(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ')
      [ -n "${pids// /}" ] && kill -KILL $pids 2>/dev/null; }
  fi
  ip netns del "$ns" && ci_log "deleted $ns"
  rm -rf "/etc/netns/$ns"
done
ip route del unreachable 10.200.0.0/16 2>/dev/null
rmdir /etc/netns 2>/dev/null
rm -rf "$DIR"
ci_log "netns down"
