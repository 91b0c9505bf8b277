#!/bin/bash
# bench/http/run.sh - herald's sendgrid and postmark drivers against a bare
# libcurl keep-alive loop (the ceiling), the official Node SDKs and a loop
# of curl commands, all sending to one nginx on loopback that answers like
# the providers, one message at a time, in one run.
#
#   bench/http/run.sh [BUILD_DIR]
#
# BUILD_DIR is a configured and built herald build directory (default: the
# current directory); libherald.la and the two drivers are built there if
# needed and the benchmark programs are linked into BUILD_DIR/bench/http/.
# Environment: N (messages per herald, libcurl and Node run, default 5000),
# REPEAT (interleaved runs of each of those, the fastest counts, default 3:
# a loaded machine makes single runs noisy), LOOP (curl command runs, default 1000),
# NODE=no to skip the Node SDKs (installed from npm into a temporary
# directory), INSTR=yes to also count the instructions each message costs
# herald and the libcurl loop under callgrind (stable on a loaded machine,
# where the rates are not).
#
# Needs: nginx (Debian's), a C compiler, libcurl's pkg-config file, curl;
# node and npm for the SDK rows.  Not part of `make check`: it measures, it
# does not test.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
build=$(cd "${1:-.}" && pwd)
N=${N:-5000}
LOOP=${LOOP:-1000}
REPEAT=${REPEAT:-3}
NODE=${NODE:-yes}
INSTR=${INSTR:-no}

nginx=$(command -v nginx || echo /usr/sbin/nginx)
for tool in "$nginx" curl cc pkg-config; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is not installed" >&2; exit 1; }
done
[ -f "$build/Makefile" ] || { echo "run.sh: $build is not a configured build directory" >&2; exit 1; }

work=$(mktemp -d)
nginx_pid=
cleanup() {
    if [ -n "$nginx_pid" ]; then kill "$nginx_pid" 2>/dev/null; wait "$nginx_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

# ---- programs
out="$build/bench/http"
mkdir -p "$out"
cc -O2 -std=c11 -Wall -Wextra -o "$out/curl_loop" "$here/curl_loop.c" \
    $(pkg-config --cflags --libs libcurl)
have_herald=yes
if make -s -C "$build" libherald.la plugins/sendgrid/sendgrid.la plugins/postmark/postmark.la \
        >"$work/make.log" 2>&1; then
    "$build/libtool" --quiet --mode=link --tag=CC cc -O2 -std=c11 -Wall -Wextra \
        -I"$src/include" -o "$out/herald_bench" "$here/herald_bench.c" "$build/libherald.la"
else
    have_herald=no
    echo "run.sh: the sendgrid/postmark drivers do not build yet; herald rows skipped:" >&2
    tail -5 "$work/make.log" >&2
fi

# ---- nginx
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
sed -e "s|@PORT@|$port|g" -e "s|@PREFIX@|$work/nginx|g" "$here/nginx.conf.in" > "$work/nginx/nginx.conf"
"$nginx" -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.05
done
base="http://127.0.0.1:$port"

# ---- Node SDKs, installed where the script can find them
have_node=no
if [ "$NODE" = yes ] && command -v node >/dev/null && command -v npm >/dev/null; then
    mkdir -p "$work/node"
    if (cd "$work/node" && npm install --no-audit --no-fund --loglevel=error \
            @sendgrid/mail postmark >"$work/npm.log" 2>&1); then
        cp "$here/node_bench.js" "$work/node/"
        have_node=yes
    else
        echo "run.sh: npm install failed; Node rows skipped:" >&2
        tail -5 "$work/npm.log" >&2
    fi
fi

# ---- runs
rate() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.0f", n / t }'; }
ratio() { if [ -n "${1:-}" ] && [ -n "${2:-}" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; else echo n/a; fi; }
rows=()
declare -A rates
record() { # key label count seconds
    local r; r=$(rate "$3" "$4")
    rows+=("$(printf '%-30s %8d %9.3f %9d' "$2" "$3" "$4" "$r")")
    rates[$1]=$r
}
now() { date +%s.%N; }
# keep KEY LABEL "PROGRAM DRIVER N SECONDS RATE": remember the fastest run of KEY.
declare -A best_line best_label
keep() {
    local prev=${best_line[$1]:-}
    if [ -z "$prev" ] || awk -v a="${3##* }" -v b="${prev##* }" 'BEGIN { exit !(a > b) }'; then
        best_line[$1]=$3
        best_label[$1]=$2
    fi
}

echo "nginx $("$nginx" -v 2>&1 | sed 's|.*/||') on $base; concurrency 1;" \
     "$N messages per run, best of $REPEAT interleaved runs; curl command loops of $LOOP"
for d in sendgrid postmark; do
    # Interleaved, so that every contender sees the same machine load.
    for _ in $(seq "$REPEAT"); do
        keep "curl_$d" "libcurl loop ($d)" "$("$out/curl_loop" "$d" "$base" "$N")"
        if [ "$have_herald" = yes ]; then
            keep "herald_$d" "herald $d" "$(HERALD_PLUGIN_PATH="$build/plugins/$d/.libs" \
                HERALD_CONFIG=/nonexistent "$out/herald_bench" "$d" "$base" "$N")"
        fi
        if [ "$have_node" = yes ]; then
            keep "node_$d" "node $(case $d in sendgrid) echo @sendgrid/mail;; *) echo postmark;; esac)" \
                "$(cd "$work/node" && node node_bench.js "$d" "$port" "$N")"
        fi
    done
    for k in "curl_$d" "herald_$d" "node_$d"; do
        [ -n "${best_line[$k]:-}" ] || continue
        set -- ${best_line[$k]}     # PROGRAM DRIVER N SECONDS RATE
        record "$k" "${best_label[$k]}" "$3" "$4"
    done
    if [ "$d" = sendgrid ]; then
        args=(-H 'Authorization: Bearer SG.test' "$base/v3/mail/send")
        body='{"personalizations":[{"to":[{"email":"ann@example.com"}]}],"from":{"email":"bench@example.com"},"subject":"bench","content":[{"type":"text/plain","value":"x"}]}'
    else
        args=(-H 'X-Postmark-Server-Token: pm-test' -H 'Accept: application/json' "$base/email")
        body='{"From":"bench@example.com","To":"ann@example.com","Subject":"bench","TextBody":"x"}'
    fi
    t0=$(now)
    for _ in $(seq "$LOOP"); do
        curl -sS -o /dev/null -H 'Content-Type: application/json' -d "$body" "${args[@]}"
    done
    t1=$(now)
    record "cli_$d" "curl command loop ($d)" "$LOOP" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
done

# ---- instructions per message: the difference between a run of 1200 and
# one of 200 messages (start-up cancels out), divided by 1000.
instr_rows=()
if [ "$INSTR" = yes ] && command -v valgrind >/dev/null; then
    instr() { # PROGRAM ARGS...: the instructions callgrind counts
        "$build/libtool" --mode=execute valgrind --tool=callgrind \
            --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | sed -n 's/.*Collected : //p'
    }
    per_msg() { # PROGRAM DRIVER
        local a b
        a=$(instr "$1" "$2" "$base" 200)
        b=$(instr "$1" "$2" "$base" 1200)
        if [ -n "$a" ] && [ -n "$b" ]; then echo $(( (b - a) / 1000 )); fi
    }
    for d in sendgrid postmark; do
        c=$(per_msg "$out/curl_loop" "$d")
        h=
        if [ "$have_herald" = yes ]; then
            h=$(HERALD_PLUGIN_PATH="$build/plugins/$d/.libs" HERALD_CONFIG=/nonexistent \
                per_msg "$out/herald_bench" "$d")
        fi
        row="$d: instructions per message: herald ${h:-n/a}, libcurl loop ${c:-n/a}"
        instr_rows+=("$row ($(ratio "$h" "$c")x)")
    done
fi

echo
printf '%-30s %8s %9s %9s\n' run messages seconds msg/s
printf '%s\n' "${rows[@]}"
echo
for d in sendgrid postmark; do
    echo "$d: herald / libcurl loop = $(ratio "${rates[herald_$d]:-}" "${rates[curl_$d]}")  (target >= 0.7)"
    echo "$d: herald / Node SDK     = $(ratio "${rates[herald_$d]:-}" "${rates[node_$d]:-}")  (target >= 10)"
    echo "$d: herald / curl command = $(ratio "${rates[herald_$d]:-}" "${rates[cli_$d]}")"
done
if [ ${#instr_rows[@]} -gt 0 ]; then
    echo
    printf '%s\n' "${instr_rows[@]}"
fi
