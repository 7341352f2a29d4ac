#!/usr/bin/env bash
# Build siegfried's `sf` (PRONOM format identification) from the Go module proxy into the repo's
# ignored .tools/bin, with its signature file embedded (`-tags static`). Idempotent.
# `go install …@version` is not used: it asks the proxy for the module's version list, which some
# mirrors refuse; building inside this pinned module (go.mod, go.sum) asks for nothing else.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$repo/.tools/bin/sf"
if [[ -x "$out" && "$out" -nt "$here/go.mod" ]]; then
    exit 0
fi
command -v go >/dev/null || { echo "siegfried/install.sh: Go is needed to build sf (apt-get install golang)" >&2; exit 1; }
echo "siegfried/install.sh: building sf into $out" >&2
mkdir -p "$(dirname "$out")"
( cd "$here" && go build -tags static -trimpath -buildvcs=false -o "$out.tmp" github.com/richardlehane/siegfried/cmd/sf )
mv "$out.tmp" "$out"
