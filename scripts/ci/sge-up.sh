#!/usr/bin/env bash
# Single-node Son of Grid Engine for the pxsh batch launcher tests:
# sge_qmaster + sge_execd on this host (no systemd), queue all.q with 4
# slots, parallel environment smp, root allowed to run jobs. Idempotent.
#
# Afterwards: export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
#   PXSH_SGE_SLOTS  slots of all.q (default 4)
set -euo pipefail
CI_NAME=sge-up
. "$(dirname "$0")/lib.sh"
export SGE_ROOT=/var/lib/gridengine SGE_CELL=default
SLOTS=${PXSH_SGE_SLOTS:-4}
SPOOL=/var/spool/gridengine
COMMON=$SGE_ROOT/$SGE_CELL/common
QPID=$SPOOL/qmaster/qmaster.pid
EPID=$SPOOL/execd/localhost/execd.pid

if ! { ci_installed gridengine-master && ci_installed gridengine-exec && ci_installed gridengine-client; }; then
  # the postinst creates the cell from these answers (and asks nothing)
  debconf-set-selections <<SEL
gridengine-common shared/gridengineconfig boolean true
gridengine-common shared/gridenginecell string default
gridengine-common shared/gridenginemaster string localhost
SEL
  ci_apt_install gridengine-master gridengine-exec gridengine-client
fi

install -d -o sgeadmin -g sgeadmin -m 0755 "$SGE_ROOT" "$SGE_ROOT/$SGE_CELL" "$COMMON" \
  "$SPOOL/qmaster" "$SPOOL/qmaster/job_scripts" "$SPOOL/spooldb" "$SPOOL/execd" /run/gridengine
[ -s "$COMMON/bootstrap" ] || install -m 0644 -o sgeadmin -g sgeadmin /usr/share/gridengine/default-bootstrap "$COMMON/bootstrap"
# the master is "localhost"; commlib rejects clients whose name resolves
# differently ("client IP resolved to host name localhost. This is not
# identical to clients host name") unless the host name is an alias
echo localhost >"$COMMON/act_qmaster"
h=$(hostname)
if [ "$h" != localhost ]; then echo "localhost $h" >"$COMMON/host_aliases"; else : >"$COMMON/host_aliases"; fi
chown sgeadmin:sgeadmin "$COMMON/act_qmaster" "$COMMON/host_aliases"
if [ ! -e "$SPOOL/spooldb/sge" ]; then
  ci_log "initialising the cluster spool"
  runuser -u sgeadmin -- /usr/share/gridengine/scripts/init_cluster "$SGE_ROOT" "$SGE_CELL" "$SPOOL/spooldb" sgeadmin >/dev/null
fi

if ! ci_pidfile_running "$QPID" sge_qmaster; then
  # a qmaster still shutting down keeps port 6444
  ci_until 30 sh -c '! ss -Hltn "sport = :6444" | grep -q .' || true
  ci_log "starting sge_qmaster"
  rm -f "$QPID"
  /usr/sbin/sge_qmaster
fi
ci_until 10 qconf -sh

# qconf -m* runs $EDITOR FILE: a one-path editor that applies $SGE_SED
ed=$(mktemp); trap 'rm -f "$ed" "$ed".*' EXIT
printf '#!/bin/sh\nexec sed -i -e "$SGE_SED" "$1"\n' >"$ed"; chmod +x "$ed"
qedit() { SGE_SED=$1 EDITOR=$ed "${@:2}" >/dev/null; }

qconf -ss 2>/dev/null | grep -qx localhost || qconf -as localhost >/dev/null
# root's jobs: min_uid/min_gid default to 1000
qconf -sconf global | grep -qE '^min_uid +0$' ||
  qedit 's/^min_uid .*/min_uid 0/; s/^min_gid .*/min_gid 0/; s/^load_report_time .*/load_report_time 00:00:05/' qconf -mconf global
# schedule every second instead of every 15
qconf -ssconf | grep -qE '^schedule_interval +0:0:1$' ||
  qedit 's/^schedule_interval .*/schedule_interval 0:0:1/; s/^flush_submit_sec .*/flush_submit_sec 1/; s/^flush_finish_sec .*/flush_finish_sec 1/' qconf -msconf
qconf -sel 2>/dev/null | grep -qx localhost || qedit 's/^hostname .*/hostname localhost/' qconf -ae
qconf -shgrpl 2>/dev/null | grep -qx @allhosts || {
  printf 'group_name @allhosts\nhostlist localhost\n' >"$ed.hg"; qconf -Ahgrp "$ed.hg" >/dev/null; }
qconf -spl 2>/dev/null | grep -qx smp || {
  printf '%s\n' 'pe_name smp' 'slots 9999' 'user_lists NONE' 'xuser_lists NONE' 'start_proc_args NONE' \
    'stop_proc_args NONE' 'allocation_rule $pe_slots' 'control_slaves TRUE' 'job_is_first_task FALSE' \
    'urgency_slots min' 'accounting_summary FALSE' 'qsort_args NONE' >"$ed.pe"
  qconf -Ap "$ed.pe" >/dev/null; }
if ! qconf -sql 2>/dev/null | grep -qx all.q; then
  # load_thresholds NONE: the default np_load_avg=1.75 stops dispatching on a busy 2-core box
  qedit "s/^hostlist .*/hostlist @allhosts/; s/^slots .*/slots $SLOTS/; s/^pe_list .*/pe_list smp/; s|^shell .*|shell /bin/sh|; s/^load_thresholds .*/load_thresholds NONE/" qconf -aq all.q
else
  qconf -sq all.q | grep -qE "^slots +$SLOTS\$" || qconf -rattr queue slots "$SLOTS" all.q >/dev/null
fi

if ! ci_pidfile_running "$EPID" sge_execd; then
  ci_log "starting sge_execd"
  rm -f "$EPID"
  /usr/sbin/sge_execd
fi
queue_ok() {
  local st
  st=$(qstat -f -q all.q 2>/dev/null | awk '$1=="all.q@localhost"{print ($6==""?"ok":$6)}')
  case $st in ok) return 0;; *E*) qmod -c all.q >/dev/null 2>&1;; esac
  return 1
}
ci_until 30 queue_ok || { qstat -f >&2; exit 1; }
ci_log "sge up (SGE_ROOT=$SGE_ROOT SGE_CELL=$SGE_CELL, all.q with $SLOTS slots, pe smp)"
