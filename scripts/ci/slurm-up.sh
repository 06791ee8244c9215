#!/usr/bin/env bash
# Single-node Slurm for the pxsh batch launcher tests: munged, slurmctld and
# slurmd started by hand (no systemd), node "localhost" with 4 CPUs on this
# 2-core box, partition "debug". Also unpacks Slurm's Torque wrappers
# (qsub/qstat/qdel) into /opt/slurm-pbs/bin: the "PBS" launcher is tested
# against them. Idempotent.
#
#   PXSH_SLURM_BASE  state, logs, pid files (default /tmp/pxsh-slurm)
#   PXSH_SLURM_CPUS  CPUs advertised (default 4)
#   PXSH_PBS_DIR     Torque wrappers (default /opt/slurm-pbs/bin)
#   SLURM_CONF       (default /etc/slurm/slurm.conf)
#
# Why unpack instead of `apt-get install slurm-wlm-torque`: it conflicts
# with gridengine-client (both own /usr/bin/qsub); installing one removes
# the other.
set -euo pipefail
CI_NAME=slurm-up
. "$(dirname "$0")/lib.sh"
BASE=${PXSH_SLURM_BASE:-/tmp/pxsh-slurm}
CPUS=${PXSH_SLURM_CPUS:-4}
PBS_DIR=${PXSH_PBS_DIR:-/opt/slurm-pbs/bin}
export SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}

# libslurm*-perl, libswitch-perl: needed by the Torque wrappers
ci_apt_install slurmctld slurmd slurm-client munge libslurm-perl libslurmdb-perl libswitch-perl

if [ ! -x "$PBS_DIR/qsub" ]; then
  ci_log "unpacking slurm-wlm-torque into $PBS_DIR"
  tmp=$(mktemp -d)
  deb=$(ls /var/cache/apt/archives/slurm-wlm-torque_*.deb 2>/dev/null | head -1 || true)
  if [ -n "$deb" ]; then cp "$deb" "$tmp/"; else
    (cd "$tmp" && apt-get download -q slurm-wlm-torque >/dev/null 2>&1) ||
      { ci_apt_update; (cd "$tmp" && apt-get download -q slurm-wlm-torque >/dev/null); }
  fi
  dpkg-deb -x "$tmp"/slurm-wlm-torque_*.deb "$tmp/x"
  mkdir -p "$PBS_DIR"
  cp "$tmp"/x/usr/bin/* "$PBS_DIR/"
  # the wrappers run "$FindBin::Bin/sbatch" etc.: link the real tools beside them
  for t in sbatch salloc srun squeue scancel scontrol sinfo; do ln -sf "/usr/bin/$t" "$PBS_DIR/$t"; done
  rm -rf "$tmp"
fi

mkdir -p "$BASE"/{spool,state,log,run} "$(dirname "$SLURM_CONF")"

# munge: /run/munge is normally made by systemd's RuntimeDirectory
if [ ! -s /etc/munge/munge.key ]; then
  install -d -o munge -g munge -m 0700 /etc/munge
  mungekey --create --keyfile /etc/munge/munge.key --force
  chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key
fi
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge
install -d -o munge -g munge -m 0711 /var/lib/munge
if ! munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
  ci_log "starting munged"
  rm -f /run/munge/munged.pid /run/munge/munge.socket.2*
  runuser -u munge -- /usr/sbin/munged
  cp /run/munge/munged.pid "$BASE/run/munged.pid"   # we started it: slurm-down stops it
  ci_until 5 sh -c 'munge -n </dev/null | unmunge'
fi

mem=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 8 / 10 ))
new=$(mktemp)
cat >"$new" <<CONF
# written by pxsh scripts/ci/slurm-up.sh: single-node test cluster
ClusterName=pxsh-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
# no cgroups and no systemd: /proc-walking process tracking, no binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SchedulerType=sched/builtin
# default delay of 3 s between back-to-back batch jobs
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
# allow more CPUs than cores
SlurmdParameters=config_overrides
# fail (instead of queueing forever) jobs larger than the partition
EnforcePartLimits=ALL
ReturnToService=2
MinJobAge=60
KillWait=3
InactiveLimit=0
MailProg=/bin/true
NodeName=localhost NodeAddr=127.0.0.1 NodeHostname=localhost CPUs=$CPUS RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
changed=0
cmp -s "$new" "$SLURM_CONF" || { install -m 0644 "$new" "$SLURM_CONF"; changed=1; }
rm -f "$new"
if [ $changed = 1 ]; then
  for d in slurmd slurmctld; do
    ci_pidfile_running "$BASE/run/$d.pid" "$d" && ci_stop_pid "$(cat "$BASE/run/$d.pid")" "$d" 10
  done
fi
if ! ci_pidfile_running "$BASE/run/slurmctld.pid" slurmctld; then
  ci_log "starting slurmctld"
  /usr/sbin/slurmctld -c -i     # -c: no saved state; daemonizes, writes the pid file
fi
ci_until 10 sh -c 'scontrol ping | grep -q "is UP"'
if ! ci_pidfile_running "$BASE/run/slurmd.pid" slurmd; then
  ci_log "starting slurmd"
  /usr/sbin/slurmd -N localhost   # our NodeName is not the host name
fi
node_ok() { case "$(sinfo -h -n localhost -o %t 2>/dev/null)" in idle|mix|alloc|comp*) return 0;; esac; return 1; }
if ! ci_until 30 node_ok; then
  scontrol update NodeName=localhost State=RESUME 2>/dev/null || true
  ci_until 5 node_ok || { ci_log "node not usable: $(sinfo -h -o '%t %E')"; exit 1; }
fi
ci_log "slurm up (partition debug, $CPUS CPUs; PBS wrappers in $PBS_DIR)"
