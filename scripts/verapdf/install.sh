#!/usr/bin/env bash
# Copy veraPDF's validator (greenfield-apps, pom.xml) with its dependencies from Maven Central into
# the repo's ignored .verapdf/lib. Idempotent; ingest/_exec/verapdf.py runs it from there.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
lib="$repo/.verapdf/lib"
stamp="$lib/.installed"
if [[ -f "$stamp" && "$stamp" -nt "$here/pom.xml" ]]; then
    exit 0
fi
echo "verapdf/install.sh: fetching veraPDF into $lib" >&2
rm -rf "$lib"
mvn -q -B -f "$here/pom.xml" package -Dmaven.repo.local="${MAVEN_REPO:-$HOME/.m2/repository}" >&2
touch "$stamp"
