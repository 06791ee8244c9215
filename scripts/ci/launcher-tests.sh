#!/usr/bin/env bash
# Install and start every system the launcher system tests use, run them
# against the real pxsh binary, and stop everything again (also on
# failure). Run as root on the CI machine (Debian 12, no systemd):
#
#   scripts/ci/launcher-tests.sh            # all systems
#   PXSH_CI_SKIP="sge netns" scripts/ci/launcher-tests.sh
#
# The tests skip, saying so, for any system that is not up.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
skip=" ${PXSH_CI_SKIP:-} "
want() { [[ $skip != *" $1 "* ]]; }

down() {
  want netns && "$here/netns-down.sh"
  want sshd && "$here/sshd-down.sh"
  want sge && "$here/sge-down.sh"
  want slurm && "$here/slurm-down.sh"
}
trap down EXIT

set -e
want mpi && "$here/mpi.sh" all
want slurm && "$here/slurm-up.sh"
want sge && "$here/sge-up.sh"
want sshd && "$here/sshd-up.sh"
want netns && PXSH_NETNS_SSHD=1 "$here/netns-up.sh"
set +e

cd "$root" || exit 1
# builds ./cmd/pxsh unless PXSH_BINARY names a binary
PXSH_SYSTEM_TESTS=1 go test -count=1 -timeout 20m -v ./launcher/systemtest/
