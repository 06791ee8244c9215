# Shared helpers for the pxsh CI scripts (sourced, not run).
# Debian 12, root, no systemd: daemons are started by hand and tracked by
# pid files; nothing is ever killed by name.

PXSH_CI_STATE=${PXSH_CI_STATE:-/tmp/pxsh-ci}
mkdir -p "$PXSH_CI_STATE"

ci_log() { printf '[%s %s] %s\n' "${CI_NAME:-ci}" "$(date +%T)" "$*" >&2; }

ci_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# ci_apt_update: `apt-get update` once per CI state directory.
ci_apt_update() {
  [ -e "$PXSH_CI_STATE/apt-updated" ] && return 0
  ci_log "apt-get update"
  apt-get update -q -o DPkg::Lock::Timeout=600 >"$PXSH_CI_STATE/apt-update.log" 2>&1 ||
    { tail -20 "$PXSH_CI_STATE/apt-update.log" >&2; return 1; }
  touch "$PXSH_CI_STATE/apt-updated"
}

# ci_apt_install PKG...: install the packages that are missing. The
# image's policy-rc.d (exit 101) keeps postinsts from starting daemons.
ci_apt_install() {
  local need=() p
  for p in "$@"; do ci_installed "$p" || need+=("$p"); done
  [ ${#need[@]} -eq 0 ] && return 0
  ci_apt_update
  ci_log "apt-get install ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 "${need[@]}" >"$PXSH_CI_STATE/apt-install.log" 2>&1 ||
    { tail -30 "$PXSH_CI_STATE/apt-install.log" >&2; return 1; }
}

# ci_running PID COMM: PID exists, is named COMM and is not a zombie. (PID
# 1 here reaps orphans lazily, so `kill -0` alone would call a dead daemon
# alive; a multi-threaded daemon whose main thread exited shows Z while
# other threads run, which counts as running.)
ci_running() {
  local pid=$1 comm=$2 st th
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$comm" ] || return 1
  st=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
  th=$(awk '/^Threads/{print $2}' "/proc/$pid/status" 2>/dev/null)
  ! { [ "$st" = Z ] && [ "${th:-1}" -le 1 ]; }
}

# ci_pidfile_running FILE COMM
ci_pidfile_running() { ci_running "$(cat "$1" 2>/dev/null)" "$2"; }

# ci_stop_pid PID COMM [SECONDS]: SIGTERM, wait, then SIGKILL.
ci_stop_pid() {
  local pid=$1 comm=$2 secs=${3:-10} i
  ci_running "$pid" "$comm" || return 0
  ci_log "stopping $comm ($pid)"
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq $((secs * 10))); do ci_running "$pid" "$comm" || return 0; sleep 0.1; done
  ci_log "$comm ($pid) still running after ${secs}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null; sleep 0.2
}

# ci_until SECONDS CMD...: run CMD every 0.1 s until it succeeds.
ci_until() {
  local secs=$1 i; shift
  for i in $(seq $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  "$@"
}

# ci_descendants PID: every descendant pid.
ci_descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; ci_descendants "$c"; done; }

# ci_sshd_files DIR PORT ADDR...: host key, client key, sshd_config and a
# client ssh_config (aliases host1.. for the addresses) in DIR.
ci_sshd_files() {
  local dir=$1 port=$2 a i hk; shift 2
  install -d -m 0700 "$dir"
  install -d -m 0755 /run/sshd           # "Missing privilege separation directory"
  [ -s "$dir/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C pxsh-ci-host -f "$dir/host_ed25519"
  [ -s "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C pxsh-ci-client -f "$dir/id_ed25519"
  install -m 0600 "$dir/id_ed25519.pub" "$dir/authorized_keys"
  {
    for a in "$@"; do echo "ListenAddress $a:$port"; done
    cat <<CONF
HostKey $dir/host_ed25519
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# no PAM: root's shadow entry is '*', key login works without it
UsePAM no
# keys live under world-writable /tmp
StrictModes no
UseDNS no
# many engines connect at once (default MaxStartups 10:30:100 drops some)
MaxStartups 200
MaxSessions 200
X11Forwarding no
PrintMotd no
PrintLastLog no
AcceptEnv LANG LC_* PXSH_*
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
  } >"$dir/sshd_config"
  hk=$(cut -d' ' -f1,2 "$dir/host_ed25519.pub")
  echo "pxsh-ci-sshd $hk" >"$dir/known_hosts"
  {
    i=0
    for a in "$@"; do i=$((i + 1)); printf 'Host host%d\n  HostName %s\n' "$i" "$a"; done
    cat <<CONF
Host *
  Port $port
  User root
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
  HostKeyAlias pxsh-ci-sshd
  BatchMode yes
  ConnectTimeout 5
  LogLevel ERROR
CONF
  } >"$dir/ssh_config"
}
