#!/bin/sh
# bench/mime/run.sh - instructions per body byte of the MIME renderer
# (callgrind), for a 100 KiB body of 72-character lines: ASCII with LF,
# ASCII with CRLF (both 7bit) and 8-bit text (quoted-printable).  The
# instructions of a run with 0 renders (setup: building and validating the
# message) are subtracted.  Run from a built tree:
#
#   bench/mime/run.sh [BUILD_DIR] [SIZE] [ROUNDS]
set -eu
build=${1:-.}
size=${2:-102400}
rounds=${3:-10}
src=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
make -s -C "$build" libherald/libherald-core.la >/dev/null
${CC:-cc} -O2 -g -std=c11 -I"$src/include" -I"$build" -I"$src/libherald" \
    "$src/bench/mime/mime_bench.c" "$build/libherald/.libs/libherald-core.a" \
    "$build/libherald/base/.libs/libherald-base.a" -lltdl -lpthread -o "$out/mime_bench"
irefs() {
    valgrind --tool=callgrind --callgrind-out-file="$out/cg" "$out/mime_bench" "$@" 2>&1 |
        sed -n 's/.*I *refs: *//p' | tr -d ,
}
printf '%-6s %12s %10s\n' body instructions per_byte
for kind in ascii crlf utf8; do
    base=$(irefs "$size" 0 "$kind")
    full=$(irefs "$size" "$rounds" "$kind")
    bytes=$("$out/mime_bench" "$size" 1 "$kind" | sed -n 's/rendered 1 x \([0-9]*\) body.*/\1/p')
    awk -v b="$base" -v f="$full" -v r="$rounds" -v n="$bytes" -v k="$kind" \
        'BEGIN { i = (f - b) / r; printf "%-6s %12d %10.2f\n", k, i, i / n }'
done
