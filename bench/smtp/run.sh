#!/bin/bash
# bench/smtp/run.sh - herald's smtp driver against Postfix's smtp-source,
# msmtp and curl, all sending to one smtp-sink on loopback, in one run.
#
#   bench/smtp/run.sh [BUILD_DIR]
#
# BUILD_DIR is a configured and built herald build directory (default: the
# current directory); libherald.la and plugins/smtp/smtp.la are built there
# if needed, and herald_bench is linked into BUILD_DIR/bench/smtp/.
# Environment: N (herald and smtp-source messages, default 20000), LOOP
# (msmtp and curl sends, default 500), SIZE (body bytes, default 1024).
#
# Needs: smtp-sink and smtp-source (Debian postfix), msmtp, curl.
# Not part of `make check`: it measures, it does not test.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-.}" && pwd)
N=${N:-20000}
LOOP=${LOOP:-500}
SIZE=${SIZE:-1024}

for tool in /usr/sbin/smtp-sink /usr/sbin/smtp-source msmtp curl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
[ -f "$build/Makefile" ] || { echo "run.sh: $build is not a configured build directory" >&2; exit 1; }

make -s -C "$build" libherald.la plugins/smtp/smtp.la >/dev/null
make -s -f "$here/Makefile" BUILD="$build" SRC="$here/../.." herald_bench >/dev/null
bench="$build/bench/smtp/herald_bench"

work=$(mktemp -d)
sink_pid=
cleanup() {
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null && wait "$sink_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
user_opt=()
[ "$(id -u)" = 0 ] && user_opt=(-u nobody)
/usr/sbin/smtp-sink "${user_opt[@]}" "127.0.0.1:$port" 1000 &
sink_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done

now() { date +%s.%N; }
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
results=()
record() { # name count seconds
    local r; r=$(rate "$2" "$3")
    results+=("$(printf '%-18s %8d %9.3f %9d' "$1" "$2" "$3" "$r")")
    eval "rate_$4=$r"
}

# The message the CLI tools send: a few headers and SIZE bytes of body.
{
    printf 'From: bench@example.com\r\nTo: sink@example.com\r\n'
    printf 'Subject: bench\r\nMessage-ID: <bench@example.com>\r\n\r\n'
    head -c "$SIZE" /dev/zero | tr '\0' 'x' | fold -w 72 | sed 's/$/\r/'
} > "$work/msg"
cat > "$work/msmtprc" <<EOF
defaults
tls off
auth off
account sink
host 127.0.0.1
port $port
from bench@example.com
account default : sink
EOF
chmod 600 "$work/msmtprc"

echo "smtp-sink on 127.0.0.1:$port; $N messages of $SIZE body bytes; loops of $LOOP"

# herald: one context, one channel, one reused connection.
out=$(HERALD_PLUGIN_PATH="$build/plugins/smtp/.libs" "$bench" 127.0.0.1 "$port" "$N" "$SIZE")
echo "$out"
secs=$(echo "$out" | awk '{ print $5 }')
record "herald" "$N" "$secs" herald

# smtp-source -d: one session, one connection, one command per round trip.
t0=$(now)
/usr/sbin/smtp-source -d -s 1 -m "$N" -l "$SIZE" -f bench@example.com \
    -t sink@example.com -M localhost "127.0.0.1:$port"
t1=$(now)
record "smtp-source -d" "$N" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" source

# msmtp: one process (and connection) per message.
t0=$(now)
for _ in $(seq "$LOOP"); do
    msmtp -C "$work/msmtprc" sink@example.com < "$work/msg"
done
t1=$(now)
record "msmtp loop" "$LOOP" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" msmtp

# curl: one process (and connection) per message.
t0=$(now)
for _ in $(seq "$LOOP"); do
    curl -sS --url "smtp://127.0.0.1:$port" --mail-from bench@example.com \
        --mail-rcpt sink@example.com --upload-file "$work/msg"
done
t1=$(now)
record "curl loop" "$LOOP" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" curl

echo
printf '%-18s %8s %9s %9s\n' tool messages seconds msg/s
printf '%s\n' "${results[@]}"
echo
echo "herald / smtp-source -d = $(ratio "$rate_herald" "$rate_source")  (target >= 1.2)"
echo "herald / msmtp loop     = $(ratio "$rate_herald" "$rate_msmtp")  (target >= 50)"
echo "herald / curl loop      = $(ratio "$rate_herald" "$rate_curl")"
