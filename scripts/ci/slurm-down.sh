#!/usr/bin/env bash
# Stop what slurm-up.sh started: cancel every job (slurmstepd is not a
# child of slurmd, so stopping slurmd alone would leave jobs running),
# stop slurmd and slurmctld by pid file, munged only if slurm-up started
# it, and remove the state. Idempotent.
set -uo pipefail
CI_NAME=slurm-down
. "$(dirname "$0")/lib.sh"
BASE=${PXSH_SLURM_BASE:-/tmp/pxsh-slurm}
export SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}

if ci_pidfile_running "$BASE/run/slurmctld.pid" slurmctld; then
  ids=$(squeue -h -o %i 2>/dev/null | tr '\n' ' ')
  if [ -n "${ids// /}" ]; then
    ci_log "cancelling jobs $ids"
    scancel $ids 2>/dev/null
    ci_until 10 sh -c '[ -z "$(squeue -h -t PD,R,CG,S -o %i)" ]' || true
  fi
fi
if ci_pidfile_running "$BASE/run/slurmd.pid" slurmd; then
  left=$(scontrol listpids 2>/dev/null | awk 'NR>1 && $1 ~ /^[0-9]+$/ {print $1}')
  [ -n "$left" ] && { ci_log "killing job processes $(echo $left)"; kill -KILL $left 2>/dev/null; }
fi
for d in slurmd slurmctld; do
  [ -s "$BASE/run/$d.pid" ] && ci_stop_pid "$(cat "$BASE/run/$d.pid")" "$d" 10
done
if [ -s "$BASE/run/munged.pid" ] && [ "$(cat "$BASE/run/munged.pid")" = "$(cat /run/munge/munged.pid 2>/dev/null)" ]; then
  ci_stop_pid "$(cat /run/munge/munged.pid)" munged 10
fi
rm -rf "$BASE"
head -1 "$SLURM_CONF" 2>/dev/null | grep -q 'pxsh scripts/ci/slurm-up.sh' && rm -f "$SLURM_CONF"
ci_log "slurm down"
