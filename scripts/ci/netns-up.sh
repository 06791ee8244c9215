#!/usr/bin/env bash
# Network namespaces as separate hosts for the pxsh multi-host tests:
# pxsh-h1..pxsh-hN at 10.200.0.1..N/24 on a bridge (in namespace pxsh-sw),
# no default route (nothing inside can leave the box), /etc/hosts naming
# h1..hN. With PXSH_NETNS_SSHD=1 every host but h1 also runs an sshd on
# port 22 sharing one key set; the client config is
# $PXSH_NETNS_DIR/ssh/ssh_config (aliases h1..hN). Idempotent.
#
#   PXSH_NETNS_HOSTS  number of hosts (default 3)
#   PXSH_NETNS_SSHD=1 start the sshds
#   PXSH_NETNS_DIR    (default /tmp/pxsh-netns)
#
# Run on host 2:  ip netns exec pxsh-h2 CMD
#
# SAFETY: the root namespace first gets `unreachable 10.200.0.0/16`: without
# it, dialling a namespace address from the root namespace would follow the
# default route off the machine.
set -euo pipefail
CI_NAME=netns-up
. "$(dirname "$0")/lib.sh"
N=${PXSH_NETNS_HOSTS:-3}
DIR=${PXSH_NETNS_DIR:-/tmp/pxsh-netns}
SW=pxsh-sw

ip route replace unreachable 10.200.0.0/16

have_ns() { [ -e "/run/netns/$1" ]; }
have_ns $SW || ip netns add $SW
ip -n $SW link set lo up
ip -n $SW link show br0 >/dev/null 2>&1 || ip -n $SW link add br0 type bridge
ip netns exec $SW sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
ip -n $SW link set br0 up

for i in $(seq "$N"); do
  ns=pxsh-h$i
  have_ns "$ns" || ip netns add "$ns"
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  ip -n "$ns" link set lo up
  if ! ip -n "$ns" link show eth0 >/dev/null 2>&1; then
    ip -n $SW link del "h$i-port" 2>/dev/null || true
    ip -n $SW link add "h$i-port" type veth peer name "h$i-eth0"
    ip -n $SW link set "h$i-eth0" netns "$ns"
    ip -n "$ns" link set "h$i-eth0" name eth0
    ip -n $SW link set "h$i-port" master br0 up
  fi
  ip -n "$ns" addr replace "10.200.0.$i/24" dev eth0
  ip -n "$ns" link set eth0 up
  mkdir -p "/etc/netns/$ns"
  { echo "127.0.0.1 localhost"; for j in $(seq "$N"); do echo "10.200.0.$j h$j"; done; } >"/etc/netns/$ns/hosts"
done
for i in $(seq "$N"); do
  ci_until 5 sh -c "ip -n pxsh-h$i link show eth0 | grep -q LOWER_UP" || { ci_log "pxsh-h$i eth0 not up"; exit 1; }
done

if [ "${PXSH_NETNS_SSHD:-0}" = 1 ]; then
  ci_apt_install openssh-server openssh-client
  addrs=(); for i in $(seq "$N"); do addrs+=("10.200.0.$i"); done
  ci_sshd_files "$DIR/ssh" 22 "${addrs[@]}"
  # aliases h1..hN instead of host1..
  sed -i 's/^Host host\([0-9]*\)$/Host h\1/' "$DIR/ssh/ssh_config"
  for i in $(seq 2 "$N"); do
    ns=pxsh-h$i
    conf=$DIR/ssh/sshd-h$i.conf
    grep -v '^ListenAddress' "$DIR/ssh/sshd_config" >"$conf"
    echo "ListenAddress 10.200.0.$i:22" >>"$conf"
    echo "PidFile $DIR/ssh/sshd-h$i.pid" >>"$conf"
    if ! ci_pidfile_running "$DIR/ssh/sshd-h$i.run" sshd; then
      ip netns exec "$ns" setsid /usr/sbin/sshd -D -e -f "$conf" </dev/null >>"$DIR/ssh/sshd-h$i.log" 2>&1 &
      echo $! >"$DIR/ssh/sshd-h$i.run"
    fi
  done
  for i in $(seq 2 "$N"); do
    ci_until 10 ip netns exec pxsh-h1 ssh -F "$DIR/ssh/ssh_config" "h$i" true </dev/null ||
      { ci_log "ssh h1 -> h$i failed; see $DIR/ssh/sshd-h$i.log"; exit 1; }
  done
  ci_log "sshd on h2..h$N; from h1: ip netns exec pxsh-h1 ssh -F $DIR/ssh/ssh_config h2 CMD"
fi
ci_log "netns up: pxsh-h1..pxsh-h$N = 10.200.0.1..$N"
