#!/usr/bin/env python3
"""Samples CPU time and memory of the duet daemon and of the agents under a tmux server.

Usage: procstat.py DAEMON_PID TMUX_SERVER_PID SECONDS

Reads /proc/PID/stat (utime + stime, and the reaped children's cutime + cstime) at the start
and end of the window; prints the daemon's share of one core, its VmRSS / VmHWM, and the
agents' (every process under the tmux server) CPU and memory, RSS and PSS (shared pages
counted once, from smaps_rollup). Ends with one JSON line of the numbers.
"""
import json, os, sys, time

TICKS = os.sysconf("SC_CLK_TCK")


def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime is field 14.
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return {"ppid": int(fields[1]), "self": utime + stime, "children": cutime + cstime}


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def descendants(root):
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = stat(int(name))["ppid"]
            except (OSError, IndexError):
                pass
    found, frontier = set(), {root}
    while frontier:
        frontier = {p for p, pp in parents.items() if pp in frontier and p not in found}
        found |= frontier
    return sorted(found)


def cpu_of(pids):
    total = {}
    for pid in pids:
        try:
            total[pid] = stat(pid)["self"]
        except (OSError, IndexError):
            pass
    return total


def main():
    daemon, tmux, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    agents = descendants(tmux)
    d0, a0, t0 = stat(daemon), cpu_of(agents + [tmux]), time.monotonic()
    time.sleep(seconds)
    d1, a1, elapsed = stat(daemon), cpu_of(agents + [tmux]), time.monotonic() - t0
    pct = lambda ticks: 100.0 * ticks / TICKS / elapsed
    daemon_self = pct(d1["self"] - d0["self"])
    daemon_children = pct(d1["children"] - d0["children"])
    agent_cpu = pct(sum(a1[p] - a0[p] for p in a1 if p in a0))
    rss = status_kb(daemon, "VmRSS") / 1024
    hwm = status_kb(daemon, "VmHWM") / 1024
    # Memory by program name under the tmux server.
    groups = {}
    for pid in agents:
        try:
            g = groups.setdefault(comm(pid), {"count": 0, "rss_mb": 0.0, "pss_mb": 0.0})
            g["count"] += 1
            g["rss_mb"] += status_kb(pid, "VmRSS") / 1024
            g["pss_mb"] += pss_kb(pid) / 1024
        except OSError:
            pass
    agents_rss = sum(g["rss_mb"] for g in groups.values())
    agents_pss = sum(g["pss_mb"] for g in groups.values())
    print(f"sampled {elapsed:.1f} s")
    print(f"  daemon (pid {daemon}): CPU {daemon_self:.2f}% of one core"
          f" (+ {daemon_children:.2f}% in children it reaped); RSS {rss:.1f} MB (peak {hwm:.1f} MB)")
    print(f"  agents: {len(agents)} processes under tmux: CPU {agent_cpu:.2f}% of one core;"
          f" RSS {agents_rss:.0f} MB, PSS {agents_pss:.0f} MB")
    for name, g in sorted(groups.items(), key=lambda kv: -kv[1]["pss_mb"]):
        print(f"    {name:<16} x{g['count']:<3} RSS {g['rss_mb']:8.0f} MB  PSS {g['pss_mb']:8.0f} MB")
    print(json.dumps({"seconds": round(elapsed, 1), "daemon_cpu_pct": round(daemon_self, 3),
                      "daemon_children_cpu_pct": round(daemon_children, 3),
                      "daemon_rss_mb": round(rss, 1), "daemon_peak_rss_mb": round(hwm, 1),
                      "agent_processes": len(agents), "agents_cpu_pct": round(agent_cpu, 2),
                      "agents_rss_mb": round(agents_rss), "agents_pss_mb": round(agents_pss)}))


main()
