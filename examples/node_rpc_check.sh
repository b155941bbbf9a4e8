#!/bin/sh
# example.node_rpc_http: runs `node_rpc --serve`, asks each route with curl while its workers are
# busy, checks the answers' shapes (JSON with python3, the Prometheus text exposition format),
# then stops it with /quit and checks that it exits 0. The server is killed on any failure.
#
# Usage: node_rpc_check.sh <node_rpc> [curl] [python3]

set -eu

node_rpc=$1
curl=${2:-curl}
python=${3:-python3}
group=demo-node

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    sleep 1
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 2' INT TERM HUP

fail() {
  echo "FAIL: $*" >&2
  echo "--- server output:" >&2
  cat "$work/out" "$work/err" >&2 || true
  exit 1
}

# Polls `$1` (a command) every 0.1 s for at most `$2` tenths of a second.
within() {
  tries=0
  until eval "$1"; do
    tries=$((tries + 1))
    [ "$tries" -lt "$2" ] || return 1
    sleep 0.1
  done
}

"$node_rpc" --serve >"$work/out" 2>"$work/err" &
pid=$!

listening() {
  kill -0 "$pid" 2>/dev/null || fail "node_rpc exited before listening"
  grep -q '^listening on 127\.0\.0\.1:[0-9][0-9]*$' "$work/out"
}
within listening 100 || fail "node_rpc did not print its port within 10 s"
port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$work/out")
base="http://127.0.0.1:$port"
echo "node_rpc (pid $pid) listening on port $port"

# get <path> <file>: the body in <file>, "<status> <content type>" on stdout.
get() {
  "$curl" -sS --max-time 10 -o "$2" -w '%{http_code} %{content_type}' "$base$1" ||
    fail "curl $1"
}
expect() {  # expect <path> <file> <status> <content type>
  got=$(get "$1" "$2")
  [ "$got" = "$3 $4" ] || fail "GET $1: expected '$3 $4', got '$got'"
  echo "GET $1 -> $got"
}

# The workers are busy: the requests handled grow between two scrapes.
handled() {
  get /metrics "$work/handled" >/dev/null
  awk '/^workers_requests_handled_total\{/ { n += $NF } END { print n + 0 }' "$work/handled"
}
first=$(handled)
grows() { [ "$(handled)" -gt "$first" ]; }
within grows 50 || fail "no request handled between two scrapes"

json='application/json'
expect "/workers/$group" "$work/list.json" 200 "$json"
expect "/workers/$group/alice" "$work/alice.json" 200 "$json"
expect "/workers/$group/carol" "$work/carol.json" 200 "$json"
expect "/workers/$group/nobody" "$work/none" 404 text/plain
expect "/nowhere" "$work/none" 404 text/plain
expect "/events" "$work/events.json" 200 "$json"
expect "/metrics" "$work/metrics.txt" 200 "text/plain; version=0.0.4"

"$python" - "$work" "$group" <<'EOF' || fail "a JSON answer does not have its documented shape"
import json, sys

work, group = sys.argv[1], sys.argv[2]
section = group.split("-")

def load(name):
    with open(f"{work}/{name}") as f:
        return json.load(f)

def status(s, where):
    assert isinstance(s, dict), where
    phase = s.get("phase")
    keys = {"launching": {"phase", "since"}, "running": {"phase", "since"},
            "closing": {"phase", "birth", "since"}, "closed": {"phase", "birth", "since"},
            "crashed": {"phase", "birth", "since", "errors"}}
    assert phase in keys and set(s) == keys[phase], f"{where}: {s}"
    assert all(isinstance(s[k], str) for k in ("since", "birth") if k in s), where

# GET /workers/<group>: Octez's list RPCs, one object per worker.
workers = load("list.json")
assert isinstance(workers, list), workers
names = [w["name"] for w in workers]
assert names == ["alice", "bob", "carol"], names
for w in workers:
    assert set(w) == {"name", "status", "information"}, w
    status(w["status"], w["name"])
    info = w["information"]
    assert set(info) == {"instances", "status", "queue_length"}, info
    assert isinstance(info["instances"], int) and info["instances"] >= 1, info
    assert isinstance(info["queue_length"], int) and info["queue_length"] >= 0, info
    status(info["status"], w["name"] + ".information")

# GET /workers/<group>/<name>: the full status.
for name in ("alice", "carol"):
    full = load(f"{name}.json")
    assert set(full) <= {"status", "pending_requests", "backlog", "current_request"}, full
    assert {"status", "pending_requests", "backlog"} <= set(full), full
    status(full["status"], name)
    for b in full["backlog"]:
        assert set(b) == {"level", "events"} and b["events"], b
        assert all(e["worker"] == f"{group}_{name}" for e in b["events"]), b
    for p in full["pending_requests"]:
        assert set(p) == {"pushed", "request"} and p["request"].startswith("validate "), p
    if "current_request" in full:
        c = full["current_request"]
        assert set(c) == {"pushed", "treated", "request"}, c

# GET /events: the backlog, by level.
backlog = load("events.json")
levels = ["debug", "info", "notice", "warning", "error", "fatal"]
assert isinstance(backlog, list) and backlog, backlog
assert [b["level"] for b in backlog] == sorted({b["level"] for b in backlog}, key=levels.index)
kinds = set()
for b in backlog:
    assert set(b) == {"level", "events"} and b["events"], b
    for e in b["events"]:
        assert set(e) == {"level", "section", "name", "worker", "time", "fields"}, e
        assert e["level"] == b["level"] and e["section"] == section, e
        assert e["worker"].startswith(group + "_") and isinstance(e["fields"], dict), e
        kinds.add(e["name"])
assert f"started_for_{group}" in kinds, kinds
assert f"request_no_errors_{group}" in kinds, kinds
print(f"JSON: {len(workers)} workers, {sum(len(b['events']) for b in backlog)} events")
EOF

"$python" - "$work/metrics.txt" "$group" <<'EOF' || fail "/metrics is not the expected Prometheus text"
import math, re, sys

text = open(sys.argv[1]).read()
group = sys.argv[2]
name_re = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
label_re = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"'
sample = re.compile(rf"^({name_re})(?:\{{((?:{label_re})(?:,{label_re})*)?\}})? "
                    r"([-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|Inf)|NaN)(?: -?\d+)?$")
help_line = re.compile(rf"^# HELP ({name_re}) .*$")
type_line = re.compile(rf"^# TYPE ({name_re}) (counter|gauge|histogram|summary|untyped)$")

types, helps, samples = {}, set(), []

def family(name):  # a histogram's samples are <family>_bucket, _count and _sum
    for suffix in ("_bucket", "_count", "_sum"):
        base = name[: -len(suffix)]
        if name.endswith(suffix) and types.get(base) == "histogram":
            return base
    return name

assert text.endswith("\n"), "no final newline"
for line in text.splitlines():
    if m := help_line.match(line):
        assert m[1] not in helps, f"HELP twice: {line}"
        helps.add(m[1])
    elif m := type_line.match(line):
        assert m[1] not in types, f"TYPE twice: {line}"
        types[m[1]] = m[2]
    elif line.startswith("#"):
        continue
    else:
        m = sample.match(line)
        assert m, f"not a sample line: {line!r}"
        assert family(m[1]) in types, f"{m[1]}: no TYPE before it"
        labels = dict(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m[2] or ""))
        samples.append((m[1], labels, float(m[3])))

counters = ["workers_requests_handled_total", "workers_requests_failed_total",
            "workers_requests_crashed_total", "workers_requests_dropped_total",
            "workers_requests_cancelled_total", "workers_requests_refused_total",
            "workers_queue_alarms_total"]
gauges = ["workers_queue_length", "workers_requests_in_flight"]
histograms = ["workers_queue_wait_seconds", "workers_service_time_seconds"]
expected = {**{c: "counter" for c in counters}, **{g: "gauge" for g in gauges},
            **{h: "histogram" for h in histograms}}
for name, kind in expected.items():
    assert types.get(name) == kind and name in helps, f"{name}: {types.get(name)}"

workers = {f"{group}_{n}" for n in ("alice", "bob", "carol")}
for name in counters + gauges:
    series = [(l, v) for n, l, v in samples if n == name]
    assert {l["worker"] for l, v in series} == workers, f"{name}: {series}"
    assert all(l == {"group": group, "worker": l["worker"]} and v >= 0 for l, v in series), name
handled = {l["worker"]: v for n, l, v in samples if n == "workers_requests_handled_total"}
assert sum(handled.values()) > 0, handled

for h in histograms:
    for worker in workers:
        key = {"group": group, "worker": worker}
        buckets = [(l["le"], v) for n, l, v in samples
                   if n == h + "_bucket" and {k: l[k] for k in l if k != "le"} == key]
        count = [v for n, l, v in samples if n == h + "_count" and l == key]
        total = [v for n, l, v in samples if n == h + "_sum" and l == key]
        assert buckets and len(count) == 1 and len(total) == 1, f"{h} {worker}"
        bounds = [float(le) for le, v in buckets]
        assert buckets[-1][0] == "+Inf" and bounds == sorted(bounds), f"{h} {worker}: {buckets}"
        values = [v for le, v in buckets]
        assert values == sorted(values), f"{h} {worker}: not cumulative {values}"
        assert values[-1] == count[0] and total[0] >= 0, f"{h} {worker}"
print(f"metrics: {len(types)} families, {len(samples)} samples")
EOF

expect /quit "$work/quit" 200 text/plain
# It prints "stopped" once io_context::run has returned (kill -0 cannot tell: a child that
# exited stays a zombie until waited for).
stopped() { grep -q '^stopped$' "$work/out"; }
within stopped 100 || fail "node_rpc did not stop within 10 s of /quit"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || fail "node_rpc exited with status $status"
echo "node_rpc stopped cleanly"
