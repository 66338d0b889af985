#!/usr/bin/env python3
"""Training speed on a quiet machine and on a busy one: do the threads collapse?

Every preset (original, tuned, best) trains a fixed number of samples with each engine, on a quiet
machine and while a second program keeps every core busy (a busy loop per core, in its own
session as another user's program would be: Linux's autogroup scheduling shares the cores between
sessions first; started and stopped by this script). Two ways of choosing threads:

  * before: NumPy's BLAS and the C engine's OpenMP on their default thread per core, as scratchnet
    ran until threads.py;
  * now: what `scratchnet train` does, the threads of threads.for_products (NumPy's BLAS: one
    thread, whatever the load, as its bits follow its thread count (issue 21: the same seed, the
    same bits); the C engine: as many as cores are free, its loops choosing below that, as its bits
    do not follow them).

Targets: `now` on the busy machine at most BUSY_SLOWDOWN times its time on the quiet one, and `now`
on the quiet machine no slower than `before` (within QUIET_MARGIN). On a quiet machine best's NumPy
rows miss the second on purpose: one BLAS thread is the price of the same bits (`scratchnet compare`'s
SGEMM rates give the products' own ratio of 1 to 2 threads). Each measurement runs in its own
process (`threads.py measure PRESET ENGINE MODE`: the median of REPEATS runs after a warm-up);
the load average at the start of each condition is recorded, as this machine may not be quiet.

OpenMP's wait policy (issue 22, target 4; bench/perf.py runs only this part, wait_policies()): the C
engine under libgomp's default, passive and active, quiet and busy.

    python bench/threads.py --out bench/results   # about 2-4 minutes; writes threads.md and .json there
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

from common import DATA, BenchError, add_out, entry_point, machine, machine_line, progress, target_lines, write_results

BUSY_SLOWDOWN = 2.5
QUIET_MARGIN = 1.10  # `now` on a quiet machine within 10% of `before` counts as no slower (timing noise)
REPEATS = 5
# samples per run, by preset and engine: a few tenths of a second each on a quiet machine
SAMPLES = {("original", "numpy"): 10_000, ("original", "c"): 60_000, ("tuned", "numpy"): 20_000, ("tuned", "c"): 60_000,
           ("best", "numpy"): 6_400, ("best", "c"): 6_400}
# OpenMP's wait policy, for the C engine's threads between two parallel loops: libgomp's own default
# (spin a while, then sleep; what scratchnet leaves it at, and what `now` runs), passive and active
WAIT_POLICIES = {"now": None, "now-passive": "passive", "now-active": "active"}
# what scratchnet chooses, from these measurements (docs/DESIGN.md, "Threads"): cengine.py sets no policy
CHOSEN_POLICY = "libgomp's default (scratchnet sets no OMP_WAIT_POLICY)"
C_PRESETS = tuple(preset for preset, engine in SAMPLES if engine == "c")
POLICY_PLAN = [(preset, "c", mode) for preset in C_PRESETS for mode in WAIT_POLICIES]
PLAN = [(preset, engine, mode) for preset, engine in SAMPLES for mode in ("before", "now")] + \
    [(preset, "c", mode) for preset in C_PRESETS for mode in WAIT_POLICIES if mode != "now"]


def measure(preset: str, engine: str, mode: str, repeats: int, samples: int) -> dict:
    """Train ``samples`` samples of the preset's first epoch ``repeats`` times; the seconds of each."""
    import numpy as np

    from scratchnet import engines, network, numpy_engine, optim, threads
    from scratchnet.config import resolve
    from scratchnet.data import load_dataset

    cfg = resolve({}, preset)
    mnist = load_dataset(DATA)
    order, images = numpy_engine.epoch_samples(cfg, mnist.train_images, 0)
    part = order[:samples]
    images, labels, order = images[part], mnist.train_labels[part], np.arange(len(part))
    net = network.create(cfg.layers, cfg.hidden, cfg.output, cfg.init, cfg.dtype, np.random.default_rng(cfg.seed))
    optimizer = optim.Optimizer(cfg, net)
    run = engines.get(engine).train_epoch
    seconds, used = [], []
    for _ in range(repeats + 1):  # the first is a warm-up
        now = threads.for_products(cfg.batch_size, net.sizes, engine)
        with now if mode.startswith("now") else nullcontext(threads.cores()) as n:
            began = time.perf_counter()
            run(net, optimizer, cfg, images, labels, order, cfg.lr)
            seconds.append(time.perf_counter() - began)
            used.append(n)
    return {"seconds": seconds[1:], "samples": len(order), "threads": used[1:]}


BUSY = "import os\nfor _ in range({}):\n    if os.fork() == 0:\n        break\nwhile True:\n    pass\n"


def busy_program(cores: int) -> subprocess.Popen:
    """A second program, in its own session, whose processes keep ``cores`` cores busy."""
    return subprocess.Popen([sys.executable, "-c", BUSY.format(cores - 1)], start_new_session=True)


def run_all(condition: str, cores: int, plan: list[tuple[str, str, str]], repeats: int = REPEATS,
            share: float = 1.0) -> dict:
    """Each (preset, engine, mode) of ``plan`` measured in its own process, ``repeats`` times on ``share`` of
    SAMPLES, on the machine as it is ("quiet") or with every core kept busy ("busy")."""
    load = busy_program(cores) if condition == "busy" else None
    try:
        time.sleep(0.5 if load else 0)  # the loops are running
        results = {"load_average": os.getloadavg()[0]}
        for preset, engine, mode in plan:
            progress(f"[{condition}] {preset} {engine} {mode}")
            env = {**os.environ, "OMP_WAIT_POLICY": WAIT_POLICIES[mode]} if WAIT_POLICIES.get(mode) else None
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "measure", preset, engine, mode,
                                  str(repeats), str(max(1, int(share * SAMPLES[preset, engine])))],
                                 capture_output=True, text=True, check=False, timeout=900, env=env)
            if out.returncode != 0:
                raise BenchError(f"{preset} {engine} {mode}: {out.stderr.strip().splitlines()[-1:]}")
            record = json.loads(out.stdout)
            record["median"] = statistics.median(record["seconds"])
            progress(f"  {record['median']:.3f} s for {record['samples']:,} samples")
            results[f"{preset}/{engine}/{mode}"] = record
        return results
    finally:
        if load:
            os.killpg(load.pid, signal.SIGKILL)  # its session's process group: the program and its forks
            load.wait()


def markdown(info: dict, results: dict, targets: list[dict], cores: int) -> str:
    quiet, busy = results["quiet"], results["busy"]
    lines = [
        "# scratchnet threads: a quiet machine against a busy one",
        "",
        machine_line(info, {"blas": "BLAS"}),
        "",
        (f"Seconds to train a fixed number of samples of each preset's first epoch (the median of {REPEATS} "
         f"runs after a warm-up); busy: a second program, in its own session, keeps the {cores} cores busy. "
         "Load average at the "
         f"start: {quiet['load_average']:.2f} quiet, {busy['load_average']:.2f} busy (other users of the machine "
         "included). before: a thread per core; now: threads.for_products, as `scratchnet train` runs (the C "
         "engine's count is the most its loops may use)."),
        "",
        "| preset | engine | threads (BLAS or OpenMP) | samples | quiet (s) | busy (s) | busy / quiet |",
        "|--------|--------|---------|--------:|----------:|---------:|-------------:|",
    ]
    for preset, engine, mode in PLAN:
        key = f"{preset}/{engine}/{mode}"
        q, b = quiet[key], busy[key]
        threads = f"{mode}: " + "/".join(map(str, sorted(set(q["threads"] + b["threads"]))))
        lines.append(f"| {preset} | {engine} | {threads} | {q['samples']:,} | {q['median']:.3f} | {b['median']:.3f} "
                     f"| {b['median'] / q['median']:.2f}x |")
    lines += ["", "OpenMP's wait policy for the C engine's threads (`now`'s counts; seconds, quiet / busy):", "",
              *policy_lines(quiet, busy, C_PRESETS)]
    lines += ["", *target_lines(targets)]
    return "\n".join(lines) + "\n"


def policy_lines(quiet: dict, busy: dict, presets: tuple[str, ...]) -> list[str]:
    """The wait policies' table: each preset's C seconds under each policy, quiet / busy, and how far the worst
    of the two conditions puts each policy behind the best."""
    lines = ["| preset | libgomp's default (scratchnet's) | passive | active (spin) | worst of the two, relative to the best |",
             "|--------|------:|------:|------:|------|"]
    for preset in presets:
        cells, worst = [], {}
        for mode in WAIT_POLICIES:
            q, b = quiet[f"{preset}/c/{mode}"]["median"], busy[f"{preset}/c/{mode}"]["median"]
            cells.append(f"{q:.3f} / {b:.3f}")
            worst[mode] = (q, b)
        best_q, best_b = min(q for q, _ in worst.values()), min(b for _, b in worst.values())
        ranks = ", ".join(f"{WAIT_POLICIES[m] or 'default'} {max(q / best_q, b / best_b):.2f}x"
                          for m, (q, b) in worst.items())
        lines.append(f"| {preset} | " + " | ".join(cells) + f" | {ranks} |")
    return lines


def wait_policies(cores: int, presets: tuple[str, ...] = C_PRESETS, repeats: int = REPEATS,
                  share: float = 1.0) -> dict:
    """The C engine of ``presets`` under each wait policy, quiet then busy: {"quiet": ..., "busy": ...}."""
    plan = [(preset, engine, mode) for preset, engine, mode in POLICY_PLAN if preset in presets]
    return {condition: run_all(condition, cores, plan, repeats, share) for condition in ("quiet", "busy")}


def judge(results: dict) -> list[dict]:
    quiet, busy = results["quiet"], results["busy"]
    targets = []
    for preset, engine, mode in PLAN:
        if mode != "now":
            continue
        key = f"{preset}/{engine}/now"
        ratio = busy[key]["median"] / quiet[key]["median"]
        targets.append({"target": len(targets) + 1, "description": f"{preset}, {engine}: busy at most "
                        f"{BUSY_SLOWDOWN:g}x quiet", "measured": f"{ratio:.2f}x",
                        "status": "PASS" if ratio <= BUSY_SLOWDOWN else "FAIL", "value": ratio})
        ratio = quiet[key]["median"] / quiet[f"{preset}/{engine}/before"]["median"]
        targets.append({"target": len(targets) + 1, "description": f"{preset}, {engine}: quiet no slower than "
                        "before", "measured": f"{ratio:.2f}x before's time",
                        "status": "PASS" if ratio <= QUIET_MARGIN else "FAIL", "value": ratio})
    return targets


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "measure":
        preset, engine, mode, repeats, samples = sys.argv[2:7]
        print(json.dumps(measure(preset, engine, mode, int(repeats), int(samples))))
        return 0
    parser = argparse.ArgumentParser(description="Training speed on a quiet and on a busy machine (Markdown table).")
    add_out(parser, "threads.md and threads.json")
    args = parser.parse_args()
    from scratchnet import threads

    cores = threads.cores()
    blas = threads.blas()
    info = machine(blas=f"{blas[0]['internal_api']} {blas[0]['version']}" if blas else None)
    results = {condition: run_all(condition, cores, PLAN) for condition in ("quiet", "busy")}
    targets = judge(results)
    table = markdown(info, results, targets, cores)
    print(table, end="")
    write_results(args.out, "threads", table, {"machine": info, "repeats": REPEATS,
                                               "results": results, "targets": targets})
    return 0


if __name__ == "__main__":
    entry_point(main, "threads.py")
