#!/usr/bin/env bash
# Fails when a package imports against pxsh's dependency direction
# (docs/ARCHITECTURE.md): transport and protocol at the bottom, the shell on
# top, nothing imports the shell.
set -euo pipefail
cd "$(dirname "$0")/.."
mod=github.com/pxsh/pxsh

# allowed[pkg]: project packages pkg may import (prefix match on path).
declare -A allowed=(
  [protocol]=""
  [docs]=""
  [profile]="protocol"
  [quic]=""
  [procs]=""
  [gcpace]=""
  [keepawake]=""
  [scheduler]=""
  [starlarklib]="protocol"
  [engine]="starlarklib protocol quic profile"
  [hub]="scheduler protocol quic profile hub procs keepawake"
  [client]="protocol quic profile"
  [launcher]="protocol profile"
  [shell]="shell client starlarklib launcher protocol profile docs"
  [kernel]="shell client protocol profile starlarklib"
  [internal]="internal hub client engine protocol profile quic starlarklib scheduler launcher shell"
  [conformance]="internal hub client engine protocol profile quic starlarklib scheduler launcher shell"
  [program]="kernel shell hub engine launcher client protocol profile quic starlarklib scheduler procs gcpace keepawake"
  [cmd]="cmd program kernel shell hub engine launcher client protocol profile quic starlarklib scheduler"
  [examples]="examples program shell client starlarklib hub engine launcher protocol profile quic"
  [bench]="internal hub client engine protocol profile quic starlarklib scheduler launcher shell procs gcpace"
)

status=0
while read -r pkg imports; do
  rel=${pkg#"$mod"}; rel=${rel#/}
  top=${rel%%/*}
  [ -z "$top" ] && continue
  if [ -z "${allowed[$top]+x}" ]; then
    echo "check-deps: package $rel is not in the dependency table (scripts/check-deps.sh)"; status=1; continue
  fi
  for imp in $imports; do
    case $imp in "$mod"/*) ;; *) continue ;; esac
    irel=${imp#"$mod"/}; itop=${irel%%/*}
    [ "$itop" = "$top" ] && [ "$top" != shell ] && [ "$top" != hub ] && continue
    ok=0
    for a in ${allowed[$top]}; do [ "$itop" = "$a" ] && ok=1; done
    # subpackages of the same tree may import each other
    [ "$itop" = "$top" ] && ok=1
    if [ $ok = 0 ]; then echo "check-deps: $rel imports $irel"; status=1; fi
  done
done < <(go list -f '{{.ImportPath}} {{join .Imports " "}}' ./...)
exit $status
