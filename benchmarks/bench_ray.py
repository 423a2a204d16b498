"""plum-exec on a Ray cluster against the local pool, as ratios measured in one run.

HumanEval's canonical solutions x``--copies`` (3,280 programs at 20) through ``plum-exec
evaluate-samples``: the local pool with ``n x --cpus-per-node`` workers, and a Ray cluster of
``n`` nodes of ``--cpus-per-node`` CPUs each on this machine (``ray.cluster_utils.Cluster``,
127.0.0.1 only), for each ``n`` in ``--nodes``; ``--single-node`` adds one Ray node with all
of the largest cluster's CPUs (two nodes of 1 CPU against one node of 2 CPUs). Every run starts
from the same warm ground-truth cache and includes its own start (connecting, the node's pools).

    python benchmarks/bench_ray.py --nodes 1,2 --cpus-per-node 1 --single-node --out benchmarks/results/ray.json
    python benchmarks/bench_ray.py --nodes 1,2,4,8 --cpus-per-node 2 --local-workers 16   # a 16-core machine
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

from evallib import humaneval_canonical_samples, timed

# Our clusters listen on 127.0.0.1 only; Ray 2.60 needs this to reach them (docs/scaling.md).
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", default="1,2", help="cluster sizes to measure, comma-separated")
    parser.add_argument("--cpus-per-node", type=int, default=1)
    parser.add_argument("--single-node", action="store_true", help="also one node with the largest cluster's CPUs")
    parser.add_argument("--local-workers", type=int, action="append", default=[],
                        help="also the local pool with this many workers (repeatable)")  # fmt: skip
    parser.add_argument("--copies", type=int, default=20, help="samples per HumanEval task")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each setting, alternating (median kept)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-ray"))
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    os.environ.update(LOOPBACK, XDG_CACHE_HOME=str(args.work / "cache"))  # nodes inherit both
    args.work.mkdir(parents=True, exist_ok=True)
    samples = humaneval_canonical_samples(args.work, args.copies)
    sizes = [int(n) for n in args.nodes.split(",")]
    report: dict = {"programs": 164 * args.copies, "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                    "cpus_per_node": args.cpus_per_node, "runs": {}}  # fmt: skip
    run(args.work, "warmup", samples, None)  # fills the ground-truth cache every run reads
    settings = {f"local {w} workers": (w, None) for w in sorted({n * args.cpus_per_node for n in sizes} | set(args.local_workers))}
    shapes = [(n, args.cpus_per_node) for n in sizes] + ([(1, max(sizes) * args.cpus_per_node)] if args.single_node else [])
    settings.update({f"ray {n} x {c} CPUs": (None, (n, c)) for n, c in shapes})
    times: dict[str, list[float]] = {name: [] for name in settings}
    nodes: dict[str, dict] = {}
    statuses: dict[str, dict] = {}
    for _ in range(args.rounds):  # settings alternate, so the machine's other load spreads over all
        for name, (workers, shape) in settings.items():
            seconds, summary = (run(args.work, name, samples, workers) if shape is None
                                else on_cluster(args.work, name, samples, *shape))  # fmt: skip
            times[name].append(seconds)
            statuses[name] = summary["base_status"]
            if "nodes" in summary:
                nodes[name] = {node[:12]: stats["samples"] for node, stats in summary["nodes"].items()}
    for name, seconds in times.items():
        report["runs"][name] = {"seconds": round(statistics.median(seconds), 2), "all": [round(t, 2) for t in seconds],
                                "statuses (last run)": statuses[name]}  # fmt: skip
        if name in nodes:
            report["runs"][name]["samples per node"] = nodes[name]
    for n, c in shapes:
        local = report["runs"].get(f"local {n * c} workers")
        if local:
            ray_run = report["runs"][f"ray {n} x {c} CPUs"]
            ray_run["vs local"] = round(ray_run["seconds"] / local["seconds"], 3)
    report["load_after"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def on_cluster(work: Path, name: str, samples: Path, nodes: int, cpus: int) -> tuple[float, dict]:
    """One timed run on a fresh cluster of ``nodes`` x ``cpus`` (started and stopped untimed)."""
    from ray.cluster_utils import Cluster

    # Ray's memory monitor off: on a shared machine it kills the actors for others' memory.
    head = {"num_cpus": cpus, "node_ip_address": "127.0.0.1", "include_dashboard": False,
            "_system_config": {"memory_monitor_refresh_ms": 0}}  # fmt: skip
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1")
        return run(work, name, samples, None, cluster.address)
    finally:
        cluster.shutdown()


def run(work: Path, name: str, samples: Path, workers: int | None, ray: str | None = None) -> tuple[float, dict]:
    """Seconds of one run from an empty results log, and its summary (a canonical solution that
    does not pass is counted in the report: on a loaded machine a 1 s limit can be missed)."""
    slug = name.replace(" ", "_")
    out, summary = work / f"{slug}_results.jsonl", work / f"{slug}_summary.json"
    out.unlink(missing_ok=True)
    command = [sys.executable, "-m", "plum_exec", "evaluate-samples", "--benchmark", "humaneval",
               "--samples", str(samples), "--out", str(out), "--summary", str(summary)]  # fmt: skip
    command += ["--workers", str(workers)] if workers else []
    command += ["--ray", ray] if ray else []
    seconds = timed(command, {}, work / f"{slug}.log")
    return seconds, json.loads(summary.read_text())


if __name__ == "__main__":
    main()
