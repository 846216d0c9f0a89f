#!/usr/bin/env bash
# banned.sh: fail if any C source under the given directories calls a
# function that docs/architecture.md bans.  Generated protobuf-c code is not ours and is
# not scanned (it lives under build/ anyway).
#
#   tools/lint/banned.sh DIR...
set -euo pipefail
pattern='\b(strcpy|strncpy|strcat|strncat|sprintf|vsprintf|strtok|atoi|atol|atoll|atof|gets|tmpnam|mktemp)[[:space:]]*\('
hits=$(grep -RnE "$pattern" --include='*.c' --include='*.h' "$@" 2>/dev/null \
       | grep -v '\.pb-c\.' | grep -vE '^[^:]+:[0-9]+:[[:space:]]*(/\*|\*|//)' || true)
if [ -n "$hits" ]; then
    echo "lint: banned functions (see docs/architecture.md):" >&2
    echo "$hits" >&2
    exit 1
fi
