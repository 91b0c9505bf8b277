#!/bin/sh
# tests/missing.sh FILE - a test program configure could not build.  FILE
# (tests/NAME.missing, written by configure) holds one line: what is missing
# and what to install.  Printed as a TAP "skip everything" plan, so the
# automake summary counts it under SKIP and shows the reason on the SKIP line.
why=$(cat "$1") || exit 99
echo "1..0 # SKIP $why"
echo "$why" >&2
