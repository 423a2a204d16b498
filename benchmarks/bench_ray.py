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
    parser.add_argument("--rounds", type=int, default=1, help="runs of each setting (median kept)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-ray"))
    parser.add_argument("--out", type=Path, help="write the numbers as JSON")
    args = parser.parse_args()
    os.environ.update(LOOPBACK, XDG_CACHE_HOME=str(args.work / "cache"))  # nodes inherit both
    args.work.mkdir(parents=True, exist_ok=True)
    samples = humaneval_canonical_samples(args.work, args.copies)
    sizes = [int(n) for n in args.nodes.split(",")]
    report: dict = {"programs": 164 * args.copies, "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                    "cpus_per_node": args.cpus_per_node, "runs": {}}  # fmt: skip
    run(args.work, "warmup", samples, [1], None)  # fills the ground-truth cache every run reads
    for workers in sorted({n * args.cpus_per_node for n in sizes} | set(args.local_workers)):
        report["runs"][f"local {workers} workers"] = run(args.work, f"local{workers}", samples, range(args.rounds), workers)
    shapes = [(n, args.cpus_per_node) for n in sizes]
    if args.single_node:
        shapes.append((1, max(sizes) * args.cpus_per_node))
    for nodes, cpus in shapes:
        report["runs"][f"ray {nodes} x {cpus} CPUs"] = on_cluster(args.work, samples, nodes, cpus, args.rounds)
    for nodes, cpus in shapes:
        local = report["runs"].get(f"local {nodes * cpus} workers")
        if local:
            report["runs"][f"ray {nodes} x {cpus} CPUs"]["vs local"] = round(
                report["runs"][f"ray {nodes} x {cpus} CPUs"]["seconds"] / local["seconds"], 3)  # fmt: skip
    report["load_after"] = os.getloadavg()
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


def on_cluster(work: Path, samples: Path, nodes: int, cpus: int, rounds: int) -> dict:
    from ray.cluster_utils import Cluster

    # Ray's memory monitor off: on a shared machine it kills the actors for others' memory.
    head = {"num_cpus": cpus, "node_ip_address": "127.0.0.1", "include_dashboard": False,
            "_system_config": {"memory_monitor_refresh_ms": 0}}  # fmt: skip
    cluster = Cluster(initialize_head=True, head_node_args=head)
    try:
        for _ in range(nodes - 1):
            cluster.add_node(num_cpus=cpus, node_ip_address="127.0.0.1")
        return run(work, f"ray{nodes}x{cpus}", samples, range(rounds), None, cluster.address)
    finally:
        cluster.shutdown()


def run(work: Path, name: str, samples: Path, rounds: range | list, workers: int | None, ray: str | None = None) -> dict:
    """Median seconds of ``rounds`` runs, each from an empty results log; every sample must pass."""
    seconds = []
    for _ in rounds:
        out, summary = work / f"{name}_results.jsonl", work / f"{name}_summary.json"
        out.unlink(missing_ok=True)
        command = [sys.executable, "-m", "plum_exec", "evaluate-samples", "--benchmark", "humaneval",
                   "--samples", str(samples), "--out", str(out), "--summary", str(summary)]  # fmt: skip
        command += ["--workers", str(workers)] if workers else []
        command += ["--ray", ray] if ray else []
        seconds.append(timed(command, {}, work / f"{name}.log"))
        result = json.loads(summary.read_text())
        if result["base_status"] != {"pass": result["samples"]}:
            raise SystemExit(f"{name}: not every canonical solution passed: {result['base_status']}")
    entry = {"seconds": round(statistics.median(seconds), 2), "all": [round(s, 2) for s in seconds]}
    if ray:
        entry["nodes"] = {node[:12]: stats["samples"] for node, stats in result["nodes"].items()}
    return entry


if __name__ == "__main__":
    main()
