#!/usr/bin/env bash
# Start a private sshd for the pxsh ssh launcher tests: root, key only,
# listening on 127.0.0.1:2222 and 127.0.0.2:2222 (two "hosts"; all of 127/8
# is on lo). Idempotent.
#
#   PXSH_SSHD_DIR   keys, configs, pid file, log  (default /tmp/pxsh-sshd)
#   PXSH_SSHD_PORT  (default 2222)
#   PXSH_SSHD_ADDRS (default "127.0.0.1 127.0.0.2")
#
# Then: ssh -F $PXSH_SSHD_DIR/ssh_config host2 true   (host1, host2 aliases)
#       pxsh cluster start --engines ssh --ssh-config $PXSH_SSHD_DIR/ssh_config --hosts host1:2,host2:2
set -euo pipefail
CI_NAME=sshd-up
. "$(dirname "$0")/lib.sh"
DIR=${PXSH_SSHD_DIR:-/tmp/pxsh-sshd}
PORT=${PXSH_SSHD_PORT:-2222}
read -r -a ADDRS <<<"${PXSH_SSHD_ADDRS:-127.0.0.1 127.0.0.2}"

ci_apt_install openssh-server openssh-client
old=$(cat "$DIR/sshd_config" 2>/dev/null || true)
ci_sshd_files "$DIR" "$PORT" "${ADDRS[@]}"
if ci_pidfile_running "$DIR/sshd.pid" sshd && [ "$old" = "$(cat "$DIR/sshd_config")" ]; then
  ci_log "sshd already running (pid $(cat "$DIR/sshd.pid"))"
else
  ci_pidfile_running "$DIR/sshd.pid" sshd && ci_stop_pid "$(cat "$DIR/sshd.pid")" sshd 5
  /usr/sbin/sshd -t -f "$DIR/sshd_config"
  # -D: foreground (we background it, setsid detaches it from this shell)
  setsid /usr/sbin/sshd -D -e -f "$DIR/sshd_config" </dev/null >>"$DIR/sshd.log" 2>&1 &
  echo $! >"$DIR/sshd.pid"
  ci_log "started sshd (pid $!) on ${ADDRS[*]} port $PORT"
fi
i=0
for a in "${ADDRS[@]}"; do
  i=$((i + 1))
  ci_until 10 ssh -F "$DIR/ssh_config" "host$i" true </dev/null ||
    { ci_log "ssh to $a failed, see $DIR/sshd.log"; exit 1; }
done
ci_log "sshd up: ssh -F $DIR/ssh_config host1|host2 CMD"
