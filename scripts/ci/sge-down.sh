#!/usr/bin/env bash
# Stop what sge-up.sh started: delete every job, kill shepherds left by our
# execd (sge_execd does not stop its jobs), stop sge_execd and sge_qmaster
# by pid file. Takes ~10 s: qmaster's orderly shutdown takes ~9 s, and
# SIGKILL would make the next sge-up.sh much slower. Idempotent.
#   PXSH_SGE_PURGE=1  also wipe the spool
set -uo pipefail
CI_NAME=sge-down
. "$(dirname "$0")/lib.sh"
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
SPOOL=/var/spool/gridengine
QPID=$SPOOL/qmaster/qmaster.pid
EPID=$SPOOL/execd/localhost/execd.pid
qpid=$(cat "$QPID" 2>/dev/null || true)
epid=$(cat "$EPID" 2>/dev/null || true)

if ci_running "$qpid" sge_qmaster; then
  ids=$(qstat -u '*' 2>/dev/null | awk 'NR>2{print $1}' | sort -u | tr '\n' ' ')
  if [ -n "${ids// /}" ]; then
    ci_log "deleting jobs $ids"
    qdel $ids >/dev/null 2>&1
    ci_until 10 sh -c '[ -z "$(qstat -u "*")" ]' || qdel -f $ids >/dev/null 2>&1
  fi
fi
if ci_running "$epid" sge_execd; then
  for sp in $(ps -o pid= --ppid "$epid"); do
    ci_log "killing leftover shepherd $sp"
    kill -KILL $(ps -o pid= --ppid "$sp") "$sp" 2>/dev/null
  done
  qconf -ke localhost >/dev/null 2>&1 || kill -TERM "$epid" 2>/dev/null
  ci_stop_pid "$epid" sge_execd 10
fi
if ci_running "$qpid" sge_qmaster; then
  ci_log "stopping sge_qmaster ($qpid), ~9 s"
  qconf -km >/dev/null 2>&1 || kill -TERM "$qpid" 2>/dev/null
  ci_stop_pid "$qpid" sge_qmaster 30
fi
rm -f "$EPID" "$QPID"
rm -rf /tmp/[0-9]*.[0-9]*.all.q 2>/dev/null     # TMPDIRs of killed jobs
[ "${PXSH_SGE_PURGE:-0}" = 1 ] && rm -rf "$SPOOL"/spooldb/* "$SPOOL"/qmaster/* "$SPOOL"/execd/*
ci_log "sge down"
