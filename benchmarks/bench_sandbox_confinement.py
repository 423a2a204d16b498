"""Cost of issue 14's layers (clean environment, hidden homes, seccomp + Landlock per child,
redaction) as a ratio: HumanEval canonical solutions x20 (3,280 programs) at one isolation level,
evaluated by the code of two checkouts, ``--before`` (e.g. main) and ``--after`` (this one).

Runs alternate (before, after, before, ...) in fresh processes so that load on the machine falls
on both alike; the ground truth is computed once by a warm-up run per checkout and cached, so the
timed runs measure the samples only. Reports the median wall-clock seconds of each and
after/before, and the same for CPU seconds (pool + workers + jobs), which the load other
programs put on the machine disturbs much less than the wall clock.

Also, less exposed to the machine's load: the confinement alone, as the median time a forked
child spends installing seccomp + Landlock, timed inside the child (``child_setup_microseconds``).

    python benchmarks/bench_sandbox_confinement.py --before /work/main --after . \\
        --out benchmarks/results/sandbox_confinement.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from evallib import humaneval_canonical_samples

# Run in a fresh interpreter with one checkout's code first on the path; prints the seconds.
TIMED_RUN = """
import contextlib, io, json, resource, sys, time
from plum_exec.evaluation import EvaluationConfig, evaluate_samples, read_samples
from plum_exec.problems import load_benchmark
samples_path, out, isolation, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
problems = load_benchmark("humaneval")
samples = read_samples(samples_path, problems)
config = EvaluationConfig(workers=workers, isolation=isolation)
def cpu():
    usage = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(u.ru_utime + u.ru_stime for u in usage)
with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    started, cpu_started = time.perf_counter(), cpu()
    summary = evaluate_samples(problems, samples, out, config)
    seconds, cpu_seconds = time.perf_counter() - started, cpu() - cpu_started
print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "passed": summary["base_status"].get("pass", 0)}))
"""


def checkout_path(root: Path) -> str:
    parts = ["src", "packages/plum-exec/src", "packages/plum-data/src", "packages/plum-train/src"]
    return os.pathsep.join(str(root.resolve() / p) for p in parts)


def timed_run(root: Path, samples: Path, out: Path, isolation: str, workers: int, cache: Path) -> dict:
    out.unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": checkout_path(root), "XDG_CACHE_HOME": str(cache)}
    proc = subprocess.run(
        [sys.executable, "-c", TIMED_RUN, str(samples), str(out), isolation, str(workers)],
        env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def apply_cost(rounds: int) -> dict[str, float]:
    """Median microseconds a forked child spends installing the confinement (timed inside the
    child, so the scheduler's delays on a loaded machine stay out), next to an empty timing."""
    import tempfile
    import time

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages" / "plum-exec" / "src"))
    from plum_exec.sandbox import paths
    from plum_exec.sandbox.confinement import Confinement

    jobdir = tempfile.mkdtemp()
    confinement = Confinement(paths.readable_roots(paths.hidden_paths()), [os.getpid()])
    times: dict[str, list[float]] = {"nothing": [], "seccomp_and_landlock": []}
    for _ in range(rounds):
        for name, values in times.items():
            read_fd, write_fd = os.pipe()
            pid = os.fork()
            if pid == 0:
                started = time.perf_counter()
                if name != "nothing":
                    confinement.apply(jobdir)
                os.write(write_fd, str((time.perf_counter() - started) * 1e6).encode())
                os._exit(0)
            os.close(write_fd)
            values.append(float(os.read(read_fd, 64)))
            os.close(read_fd)
            os.waitpid(pid, 0)
    os.rmdir(jobdir)
    return {name: round(statistics.median(t), 1) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="checkout without the layers (e.g. /work/main)")
    parser.add_argument("--after", type=Path, default=Path("."), help="checkout with them")
    parser.add_argument("--isolation", default="process", choices=["process", "namespace"])
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-bench-confinement"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    samples = humaneval_canonical_samples(args.work, args.copies)
    warmup = humaneval_canonical_samples(args.work, 1)
    checkouts = {"before": args.before, "after": args.after}
    report: dict = {"isolation": args.isolation, "programs": 164 * args.copies, "workers": args.workers,
                    "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    for name, root in checkouts.items():  # ground truth into each checkout's cache
        timed_run(root, warmup, args.work / f"{name}_warmup.jsonl", args.isolation, args.workers, args.work / f"{name}_cache")
    measured: dict[str, dict[str, list[float]]] = {"seconds": {n: [] for n in checkouts}, "cpu_seconds": {n: [] for n in checkouts}}
    for _ in range(args.rounds):
        for name, root in checkouts.items():
            run = timed_run(root, samples, args.work / f"{name}.jsonl", args.isolation, args.workers, args.work / f"{name}_cache")
            assert run["passed"] == 164 * args.copies, run
            for kind, values in measured.items():
                values[name].append(round(run[kind], 2))
    for kind, values in measured.items():  # wall clock, and CPU time of the pool, workers and jobs
        median = {name: statistics.median(v) for name, v in values.items()}
        report[kind] = {**values, "median": median, "after_over_before": round(median["after"] / median["before"], 3)}
    report["child_setup_microseconds"] = apply_cost(500)
    report["load_after"] = os.getloadavg()
    print(json.dumps(report, indent=2))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
