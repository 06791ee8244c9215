#!/usr/bin/env bash
# Installs Debian's Chromium for the dashboard's browser test
# (hub/dashboard/browser_test.go drives it headless with chromedp).
# Idempotent: does nothing when it is installed.
set -euo pipefail
CI_NAME=chromium
. "$(dirname "$0")/lib.sh"
ci_apt_install chromium
ci_log "chromium: $(/usr/lib/chromium/chromium --version 2>/dev/null || echo missing)"
