#!/usr/bin/env bash
# Install MPI for the pxsh launcher tests and check that it runs 4 ranks as
# root on this box. No daemon: nothing to stop.
#
#   scripts/ci/mpi.sh [openmpi|mpich|all]     (default openmpi)
#
# Pitfalls handled by the launcher (see launcher/mpi.go): Open MPI refuses
# root without --allow-run-as-root and -n > cores without --oversubscribe;
# both MPIs installed make /usr/bin/mpiexec an alternatives link (Open MPI
# wins), so the explicit mpiexec.openmpi / mpiexec.mpich names are used.
set -euo pipefail
CI_NAME=mpi
. "$(dirname "$0")/lib.sh"
which=${1:-openmpi}
case $which in
  openmpi) pkgs=(openmpi-bin) ;;
  mpich) pkgs=(mpich) ;;
  all) pkgs=(openmpi-bin mpich) ;;
  *) echo "usage: $0 [openmpi|mpich|all]" >&2; exit 2 ;;
esac
ci_apt_install "${pkgs[@]}"
rank='echo "${OMPI_COMM_WORLD_RANK:-$PMI_RANK}"'
if [ "$which" != mpich ]; then
  got=$(timeout 60 mpiexec.openmpi --allow-run-as-root --oversubscribe \
        --mca btl_tcp_if_include lo --mca oob_tcp_if_include lo -n 4 sh -c "$rank" </dev/null | sort | tr '\n' ' ')
  [ "$got" = "0 1 2 3 " ] || { ci_log "open mpi ranks: '$got'"; exit 1; }
  ci_log "open mpi ok: $(mpiexec.openmpi --version 2>/dev/null | head -1)"
fi
if [ "$which" != openmpi ]; then
  got=$(timeout 60 mpiexec.mpich -launcher fork -iface lo -n 4 sh -c "$rank" </dev/null | sort | tr '\n' ' ')
  [ "$got" = "0 1 2 3 " ] || { ci_log "mpich ranks: '$got'"; exit 1; }
  ci_log "mpich ok"
fi
