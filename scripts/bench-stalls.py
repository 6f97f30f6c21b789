#!/usr/bin/env python3
"""Who was busy, and who waited for a CPU, while the load benchmark's requests were slow.

    scripts/bench-stalls.py sample OUT.csv &      # before the benchmark; kill it after
    BENCH_TRACE=DIR scripts/bench.sh
    scripts/bench-stalls.py join DIR/order-300.csv OUT.csv

`sample` reads, every 25 ms, the on-CPU and run-queue-wait time of the service
(`coffeebuddy`), the load generator (`load`) and PostgreSQL's processes from
/proc/<pid>/task/*/schedstat, and the machine's idle, iowait and steal ticks from
/proc/stat. `join` lines one open-loop phase's trace up with those samples: for each
window, the requests scheduled in it, their mean and worst latency, and each group's CPU
(run/wait, ms). A slow stretch where one group runs more than usual is work of ours
(root-message refreshes and run starts show that way); one where every group
waits at once while the CPUs are not all busy is the machine.
"""
import bisect
import csv
import os
import signal
import sys
import time

GROUPS = {"coffeebuddy": "svc", "load": "load", "postgres": "pg"}
PERIOD = 0.025


def tasks():
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            group = GROUPS.get(open(f"/proc/{pid}/comm").read().strip())
            if group:
                for tid in os.listdir(f"/proc/{pid}/task"):
                    found.append((group, f"/proc/{pid}/task/{tid}/schedstat"))
        except FileNotFoundError:
            pass
    return found


def snapshot(found):
    totals = {g: [0, 0] for g in GROUPS.values()}
    for group, path in found:
        try:
            run, wait, _ = open(path).read().split()
            totals[group][0] += int(run)
            totals[group][1] += int(wait)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    ticks = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return totals, ticks


def sample(out_path):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    out = open(out_path, "w")
    out.write("unix_ms,svc_run,svc_wait,load_run,load_wait,pg_run,pg_wait,"
              "busy_ticks,idle_ticks,iowait_ticks,steal_ticks\n")
    found, scanned = tasks(), time.time()
    prev, prev_ticks = snapshot(found)
    while not stop:
        time.sleep(PERIOD)
        now = time.time()
        if now - scanned > 0.5:
            # Connections and threads come and go: rescan, and restart the deltas.
            found, scanned = tasks(), now
            prev, prev_ticks = snapshot(found)
            continue
        totals, ticks = snapshot(found)
        row = [f"{now * 1000:.1f}"]
        for group in ("svc", "load", "pg"):
            row += [str((totals[group][i] - prev[group][i]) // 1000) for i in (0, 1)]
        busy = sum(ticks[i] - prev_ticks[i] for i in (0, 1, 2, 5, 6))
        row += [str(busy)] + [str(ticks[i] - prev_ticks[i]) for i in (3, 4, 7)]
        out.write(",".join(row) + "\n")
        out.flush()
        prev, prev_ticks = totals, ticks


def join(trace_path, samples_path):
    trace = list(csv.DictReader(open(trace_path)))
    samples = list(csv.DictReader(open(samples_path)))
    times = [float(r["unix_ms"]) for r in trace]
    first, last = times[0], times[-1]
    print("  t ms   n  mean  worst | svc run/wait | load run/wait | pg run/wait  (ms)"
          " | busy idle iowait steal ticks")
    prev = None
    for s in samples:
        t = float(s["unix_ms"])
        if prev is None or t < first or prev > last:
            prev = t
            continue
        i, j = bisect.bisect_left(times, prev), bisect.bisect_left(times, t)
        latencies = [float(r["latency_ms"]) for r in trace[i:j]]
        if latencies:
            ms = lambda k: int(s[k]) / 1000
            print(f"{prev - first:6.0f} {len(latencies):3d} "
                  f"{sum(latencies) / len(latencies):5.2f} {max(latencies):6.2f} | "
                  f"{ms('svc_run'):4.1f}/{ms('svc_wait'):4.1f} | "
                  f"{ms('load_run'):4.1f}/{ms('load_wait'):4.1f} | "
                  f"{ms('pg_run'):5.1f}/{ms('pg_wait'):5.1f} | "
                  f"{s['busy_ticks']:>4} {s['idle_ticks']:>4} {s['iowait_ticks']:>6} {s['steal_ticks']:>5}")
        prev = t


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "sample":
        sample(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "join":
        join(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
