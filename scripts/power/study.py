"""The study of docs/power.md: coordination strategy x channel -> cost, unserved energy,
frequency nadir, EV fairness.

Run from the crate root after `cargo build --release --no-default-features`:
    python3 scripts/power/study.py [MASIM_BINARY]          # runs the sweeps, prints the tables
    python3 scripts/power/study.py --table out/power-study  # only tabulates earlier sweeps

Each scenario is swept over the four strategies and three channels (the channel's floor of
one tick, +500 ms latency, 30 % loss), seeds 1-3 (the feeder: its own seed, 7), with `masim sweep`; the figures come from
every run's summary.json: total generation cost (the units' `cost`), `unserved_mwh`, the
frequency nadir, the lines tripped by protection and Jain's index of the EVs that left.
"""

import json
import os
import statistics
import subprocess
import sys

STRATEGIES = ["None", "Centralized", "Hierarchical", "Decentralized"]
# (scenario, dt in s, seeds): the latency of 500 ms is that many ticks on top of the one-tick
# floor; the feeder's six hours (about 30 s a run on 2 cores) with its own seed only.
SCENARIOS = [("power_cascade", 0.1, "1..4"), ("power_microgrid_ev", 1.0, "7")]


def channels(dt):
    # At dt 1 s the nearest to +500 ms is one tick more (+1 s).
    extra = max(1, round(0.5 / dt))
    return [
        (f"perfect (1 tick = {dt:g} s)", []),
        (f"+{extra * dt * 1000:g} ms ({1 + extra} ticks)", ["--set", f"channel.latency_ticks={1 + extra}"]),
        ("30 % loss", ["--set", "channel.loss=0.3"]),
    ]


def run(binary, out):
    for name, dt, seeds in SCENARIOS:
        for k, (_, sets) in enumerate(channels(dt)):
            d = os.path.join(out, f"{name}-{k}")
            cmd = [binary, "sweep", f"scenarios/{name}.ron", "--vary", "coordination=" + ",".join(STRATEGIES),
                   "--seeds", seeds, "--jobs", "2", "--quiet", "--force", "--out", d] + sets
            print(" ".join(cmd), file=sys.stderr)
            subprocess.run(cmd, check=True)


def fmt(xs, digits):
    m = statistics.mean(xs)
    if len(xs) > 1 and statistics.pstdev(xs) > 0.5 * 10 ** -digits:
        return f"{m:.{digits}f} ± {statistics.pstdev(xs):.{digits}f}"
    return f"{m:.{digits}f}"


def table(out):
    for name, dt, _ in SCENARIOS:
        print(f"\n`{name}.ron`\n")
        print("| strategy | channel | generation cost ($) | unserved (MWh) | nadir (Hz) | lines tripped | EV fairness (Jain) | EV unmet (kWh) |")
        print("|---|---|---:|---:|---:|---:|---:|---:|")
        for strat in STRATEGIES:
            for k, (label, _) in enumerate(channels(dt)):
                runs = os.path.join(out, f"{name}-{k}", "runs")
                rows = []
                for r in sorted(os.listdir(runs)):
                    with open(os.path.join(runs, r, "summary.json")) as f:
                        s = json.load(f)
                    if s["coordination"] != strat:
                        continue
                    w = s["world"]
                    rows.append((
                        sum(g["cost"] for g in w["generators"]),
                        w["unserved_mwh"],
                        w["frequency"]["nadir_hz"],
                        sum(l["trips"] for l in w["lines"]),
                        w["ev"]["fairness_jain"],
                        w["ev"]["unmet_kwh"],
                    ))
                cols = list(zip(*rows))
                print(f"| {strat} | {label} | {fmt(cols[0], 0)} | {fmt(cols[1], 3)} | {fmt(cols[2], 3)} | "
                      f"{fmt(cols[3], 1)} | {fmt(cols[4], 3)} | {fmt(cols[5], 0)} |")


def main():
    out = "out/power-study"
    if len(sys.argv) > 2 and sys.argv[1] == "--table":
        table(sys.argv[2])
        return
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/masim"
    run(binary, out)
    table(out)


if __name__ == "__main__":
    main()
