#!/usr/bin/env bash
# Tern and Redis side by side under redis-benchmark (issue 11, item 4).
#
# Starts a local Redis (AOF on, fsync on every write: --appendonly yes --appendfsync always)
# and a local three-node Tern cluster (N=3, W=2, R=2, fdatasync before every acknowledgement)
# on loopback, on free ports, with their data in a temporary directory; then, for ROUNDS
# rounds, alternating which goes first, runs
#     redis-benchmark -t set,get -n N -d 100 -c 50    and    ... -c 1
# against each, and writes reports/redis-side-by-side.md with every run, the medians and the
# ratios (Tern / Redis). With PROFILE=1 (the default when perf is installed) it then records
# a perf profile of the Tern process under the c50 benchmark and adds its top symbols.
#
# Settings (environment): ROUNDS (3), REQUESTS (200000: -n for -c 50), REQUESTS_C1 (-n for
# -c 1; default REQUESTS), TERN_THREADS (tern-node --threads; default 1, tern-node's own
# default), TERN_FLAGS (more `tern-node cluster` flags, e.g. "--search-index off"; default
# none), PROFILE (1 if perf is found), REPORT (reports/redis-side-by-side.md).
# Installs redis-server and redis-tools with apt-get if redis-server or redis-benchmark is
# missing. Run from anywhere: `bash scripts/redis-side-by-side.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-200000}
REQUESTS_C1=${REQUESTS_C1:-$REQUESTS}
TERN_THREADS=${TERN_THREADS:-1}
TERN_FLAGS=${TERN_FLAGS:-}
REPORT=${REPORT:-reports/redis-side-by-side.md}
if [ -z "${PROFILE:-}" ]; then
    if command -v perf >/dev/null; then PROFILE=1; else PROFILE=0; fi
fi

if ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null; then
    echo "installing redis-server and redis-tools (apt-get)" >&2
    sudo_=""
    [ "$(id -u)" -eq 0 ] || sudo_=sudo
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq redis-server redis-tools >/dev/null
fi

cargo build --release -p node --bin tern-node
tern_node=target/release/tern-node

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

wait_ping() { # port
    for _ in $(seq 1 200); do
        if [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]; then
            return 0
        fi
        sleep 0.05
    done
    echo "nothing answers PING on port $1" >&2
    return 1
}

redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" \
    --appendonly yes --appendfsync always --save "" --daemonize no \
    --logfile "$work/redis.log" &
pids+=($!)

# The cluster's native ports are three consecutive free ones: take a random base and check.
while :; do
    base=$(( (RANDOM % 20000) + 30000 ))
    resp=$(( base + 10 ))
    if ! (ss -ltn 2>/dev/null | grep -Eq ":($base|$((base + 1))|$((base + 2))|$resp|$((resp + 1))|$((resp + 2))) "); then
        break
    fi
done
"$tern_node" cluster --threads "$TERN_THREADS" --nodes 3 --data-dir "$work/tern" \
    --base-port "$base" --redis-base-port "$resp" $TERN_FLAGS >"$work/tern.log" 2>&1 &
tern_pid=$!
pids+=($tern_pid)
wait_ping "$redis_port"
wait_ping "$resp"
# Tern answers PING before its nodes have booted: wait until a write goes through.
for _ in $(seq 1 200); do
    [ "$(redis-cli -p "$resp" set __ready 1 2>/dev/null)" = "OK" ] && break
    sleep 0.05
done

results="$work/results.csv"
echo "round,system,clients,test,rps,p50_ms,p99_ms,load1" >"$results"

bench() { # round system port clients requests
    local out load
    load=$(cut -d' ' -f1 /proc/loadavg)
    out=$(redis-benchmark -h 127.0.0.1 -p "$3" -t set,get -n "$5" -d 100 -c "$4" --csv 2>/dev/null)
    echo "$out" | tail -n +2 | tr -d '"' | while IFS=, read -r test rps _avg _min p50 _p95 p99 _max; do
        echo "$1,$2,$4,$test,$rps,$p50,$p99,$load" >>"$results"
        printf 'round %s %-5s c%-2s %s %10s/s p50 %s ms p99 %s ms (load %s)\n' "$1" "$2" "$4" "$test" "$rps" "$p50" "$p99" "$load"
    done
}

for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then order="redis tern"; else order="tern redis"; fi
    for clients in 50 1; do
        requests=$REQUESTS
        [ "$clients" -eq 1 ] && requests=$REQUESTS_C1
        for system in $order; do
            port=$redis_port
            [ "$system" = tern ] && port=$resp
            bench "$round" "$system" "$port" "$clients" "$requests"
        done
    done
done

profile="$work/profile.txt"
: >"$profile"
if [ "$PROFILE" = 1 ]; then
    for test in set get; do
        perf record -F 999 -g -p "$tern_pid" -o "$work/perf-$test.data" -- \
            redis-benchmark -h 127.0.0.1 -p "$resp" -t "$test" -n "$REQUESTS" -d 100 -c 50 -q \
            >/dev/null 2>&1 || true
        {
            echo "#### c50 ${test^^}: self time by symbol (perf, top entries)"
            echo
            echo '```text'
            perf report -i "$work/perf-$test.data" --no-children --sort symbol --stdio 2>/dev/null |
                grep -E '^ +[0-9.]+%' | sed 's/[ -]*$//' | head -25 || true
            echo '```'
            echo
            echo "#### c50 ${test^^}: time by shared object"
            echo
            echo '```text'
            perf report -i "$work/perf-$test.data" --no-children --sort dso --stdio 2>/dev/null |
                grep -E '^ +[0-9.]+%' | sed 's/[ -]*$//' | head -8 || true
            echo '```'
            echo
        } >>"$profile"
    done
fi

flags_env=""
flags_arg=""
if [ -n "$TERN_FLAGS" ]; then
    flags_env="TERN_FLAGS=\"$TERN_FLAGS\" "
    flags_arg=" $TERN_FLAGS"
fi

python3 - "$results" "$REPORT" "$profile" <<EOF
import csv, statistics, sys, platform, os
rows = list(csv.DictReader(open(sys.argv[1])))
report, profile = sys.argv[2], open(sys.argv[3]).read()
def pick(system, clients, test, field):
    return [float(r[field]) for r in rows if r["system"] == system and r["clients"] == str(clients) and r["test"] == test]
med = lambda xs: statistics.median(xs) if xs else float("nan")
out = []
w = out.append
w("# Tern and Redis side by side (redis-benchmark)")
w("")
w("Written by \`scripts/redis-side-by-side.sh\` (issue 11, item 4). Command:")
w("")
w("\`\`\`sh")
w('ROUNDS=$ROUNDS REQUESTS=$REQUESTS REQUESTS_C1=$REQUESTS_C1 TERN_THREADS=$TERN_THREADS ${flags_env}bash scripts/redis-side-by-side.sh')
w("\`\`\`")
w("")
w("Each round runs \`redis-benchmark -h 127.0.0.1 -p PORT -t set,get -n $REQUESTS -d 100 -c 50 --csv\` and then")
w("the same with \`-c 1\` and \`-n $REQUESTS_C1\`, against Redis and against Tern, alternating which goes first.")
w("Redis: \`redis-server --appendonly yes --appendfsync always --save ''\` (its version: $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/')).")
w("Tern: \`tern-node cluster --threads $TERN_THREADS --nodes 3${flags_arg}\` (one process holding three nodes, N=3, W=2, R=2,")
w("fdatasync before every acknowledgement), benchmarked through node 1's Redis port. Both on loopback, data")
w("on the same file system ($(df -T "$work" | tail -1 | awk '{print $2}')), on a machine with $(nproc) cores shared with")
w("other work: the load average (1 min) at the start of each run is in the last column.")
w("")
w("Without \`-r\`, redis-benchmark uses one key (\`key:__rand_int__\`) for every request: every SET of a")
w("run writes the same key, from 50 connections at once (docs/REDIS.md, \"SET on a hot key\").")
w("")
w("## Medians of $ROUNDS rounds")
w("")
w("| test | Redis | Tern | Tern / Redis | target | met |")
w("|---|---|---|---|---|---|")
def line(name, system_field, clients, test, target, better_high):
    r, t = med(pick("redis", clients, test, system_field)), med(pick("tern", clients, test, system_field))
    ratio = t / r if r else float("nan")
    met = (ratio >= target) if better_high else (ratio <= target)
    unit = "/s" if system_field == "rps" else " ms"
    fmt = (lambda x: f"{x:,.0f}{unit}") if system_field == "rps" else (lambda x: f"{x:.3f}{unit}")
    tgt = "—" if not target else (f"≥ {target}x" if better_high else f"≤ {target}x")
    w(f"| {name} | {fmt(r)} | {fmt(t)} | {ratio:.2f}x | {tgt} | {('yes' if met else 'no') if target else '—'} |")
line("SET c50 throughput", "rps", 50, "SET", 1.0, True)
line("GET c50 throughput", "rps", 50, "GET", 1.3, True)
line("SET c1 p50 latency", "p50_ms", 1, "SET", 1.5, False)
line("SET c50 p50 latency", "p50_ms", 50, "SET", 0, False)
line("GET c50 p50 latency", "p50_ms", 50, "GET", 0, False)
line("SET c1 throughput", "rps", 1, "SET", 0, True)
line("GET c1 throughput", "rps", 1, "GET", 0, True)
line("GET c1 p50 latency", "p50_ms", 1, "GET", 0, False)
w("")
w("## Every run")
w("")
w("| round | system | clients | test | requests/s | p50 ms | p99 ms | load (1 min) |")
w("|---|---|---|---|---|---|---|---|")
for r in rows:
    w(f"| {r['round']} | {r['system']} | {r['clients']} | {r['test']} | {float(r['rps']):,.0f} | {r['p50_ms']} | {r['p99_ms']} | {r['load1']} |")
w("")
notes = "reports/redis-side-by-side-notes.md"
if os.path.exists(notes):
    w(open(notes).read().rstrip())
    w("")
if profile.strip():
    w("## Profile of the Tern process (written by the script)")
    w("")
    w(f"\`perf record -F 999 -g -p PID\` during one more \`-c 50 -n $REQUESTS\` run of each test.")
    w("")
    w(profile.rstrip())
    w("")
open(report, "w").write("\n".join(out) + "\n")
print(f"report: {report}")
EOF
