#!/usr/bin/env bash
# Install Debian's Jupyter client for the Jupyter kernel test
# (kernel/kernel_test.go runs /usr/bin/python3 with jupyter_client against
# `pxsh kernel`). Idempotent; no daemon: nothing to stop.
set -euo pipefail
CI_NAME=jupyter
. "$(dirname "$0")/lib.sh"
ci_apt_install python3-jupyter-client
/usr/bin/python3 -c 'import jupyter_client, zmq; print("jupyter_client", jupyter_client.__version__, "pyzmq", zmq.__version__)' >&2
