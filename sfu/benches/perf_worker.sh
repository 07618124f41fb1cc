#!/bin/bash
# Profiles the SFU worker thread during the fanout bench with perf (software
# cpu-clock event: this VM exposes no hardware counters).
#
#   cargo bench -p parley-sfu --bench fanout --no-run
#   FANOUT_N=100 FANOUT_IDLE_SECS=1 sfu/benches/perf_worker.sh /tmp/perf100.data 8
#   perf report -i /tmp/perf100.data --children --sort symbol --stdio -g none
#
# Starts the bench (FANOUT_* environment as for the bench), waits until the
# subscribers are connected, then WAIT seconds (warm-up and idle window),
# then records sfu-worker-0 for SECONDS seconds.
set -eu
out=$1
secs=$2
cd "$(dirname "$0")/../.."
bin=$(ls -t target/release/deps/fanout-* | grep -v '\.d$' | head -1)
log=$(mktemp)
"$bin" --bench >"$log" 2>&1 &
pid=$!
until grep -q connected "$log"; do sleep 0.1; done
tid=""
for t in /proc/"$pid"/task/*; do
  if [ "$(cat "$t"/comm 2>/dev/null)" = "sfu-worker-0" ]; then tid=$(basename "$t"); fi
done
sleep "${WAIT:-3}"
perf record -e cpu-clock -F "${FREQ:-4999}" --call-graph dwarf,16384 -t "$tid" -o "$out" -- sleep "$secs"
wait "$pid"
tail -4 "$log"
