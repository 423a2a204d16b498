"""Training methods on the demo over seeds: `plum demo --seeds K --compare rft` with a method's settings.

    nice -n 5 python benchmarks/demo_methods.py --method dpo-rpo --seeds 3 --out /tmp/demo_methods
    nice -n 5 python benchmarks/demo_methods.py --method dpo-rpo --n 4 --seeds 1 --no-rft --out /tmp/demo_methods \
        --tests /tmp/demo_methods/dpo-rpo/seed_0/tests.jsonl

Each method is a named set of `--set` overrides of the demo config (METHODS below). The run
folder is OUT/METHOD[_nN] (rerunning resumes it); the demo's comparison (mean, sd, per-seed
values of greedy pass@1 on seen / instructions_only / unseen, with RFT beside it) goes to
benchmarks/results/demo_METHOD[_nN].json with the command, the wall time and the machine's load.

`--collect` runs nothing: it writes the same file from the rounds the run folders have finished
so far (marked `"partial": true`), for runs still going or stopped before the end.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from plum_exec.jsonl import write_json

RESULTS = Path(__file__).parent / "results"
METHODS = {
    "kto": [],  # the demo as shipped: KTO, undesirable weight 0.05
    "kto-uw0": ["training.undesirable_weight=0.0"],  # ablation: failures carry no weight
    # DPO on (passing, failing) pairs + NLL on the passing program (iterative RPO)
    "dpo-rpo": ["training.method=dpo", "training.rpo_alpha=1.0"],
    # ablation: the same pairs, the DPO term off: NLL on the passing programs of mixed problems only
    "dpo-rpo-nodpo": ["training.method=dpo", "training.loss_type=[sigmoid]", "training.loss_weights=[0.0]",
                      "training.rpo_alpha=1.0"],  # fmt: skip
    "dpo": ["training.method=dpo"],
    # KTO + NLL on the desirable programs, failures weighted as the KTO paper's balance asks
    "kto-nll": ["training.rpo_alpha=1.0", "training.undesirable_weight=0.3"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", choices=sorted(METHODS), required=True)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="first seed")
    parser.add_argument("--n", type=int, help="samples per instruction (the demo's is 8)")
    parser.add_argument("--no-rft", dest="rft", action="store_false", help="skip the RFT baseline")
    parser.add_argument("--tests", type=Path, help="another demo run's tests.jsonl instead of synthesizing them "
                        "again (the generator decodes greedily: the same tests)")  # fmt: skip
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--collect", action="store_true", help="only write what the run folders have finished")
    args = parser.parse_args()

    from plumcode.cli import main as plum

    name = args.method + (f"_n{args.n}" if args.n else "")
    overrides = METHODS[args.method] + ([f"sampling.n={args.n}"] if args.n else [])
    if args.tests:
        overrides += [f"instructions.problems={args.tests.resolve()}", "test_generator=null"]
    argv = ["demo", "--out", str(args.out / name), "--seed", str(args.seed), "--seeds", str(args.seeds)]
    argv += [x for item in overrides for x in ("--set", item)] + (["--compare", "rft"] if args.rft else [])
    record = {"command": "plum " + " ".join(argv), "method": args.method, "overrides": overrides}
    if args.collect:
        seeds = range(args.seed, args.seed + args.seeds)
        record.update(partial=True, comparison=finished(args.out / name, list(seeds), args.rft))
        write_json(RESULTS / f"demo_{name}.json", record)
        return
    load_before, started = os.getloadavg(), time.monotonic()
    if plum(argv) != 0:
        sys.exit(1)
    write_json(RESULTS / f"demo_{name}.json", {
        **record, "wall_seconds": round(time.monotonic() - started, 1),
        "load_average": {"start": load_before, "end": os.getloadavg()}, "cpus": os.cpu_count(),
        "comparison": json.loads((args.out / name / "comparison.json").read_text(encoding="utf-8")),
    })  # fmt: skip


def finished(folder: Path, seeds: list[int], rft: bool) -> dict:
    """The demo's comparison over the rounds each seed's runs have evaluated so far (summary.json)."""
    import yaml

    from plumcode.demo.run import SEED_DIR, compare_runs, summarize_seeds

    def summary(run_dir: Path) -> dict:
        path = run_dir / "summary.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"rounds": []}

    runs = {}
    for seed in seeds:
        run_dir = folder / SEED_DIR.format(seed) if len(seeds) > 1 else folder
        if not (run_dir / "config.yaml").is_file():
            continue
        method = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))["training"]["method"]
        summaries = {method: summary(run_dir), **({"rft": summary(run_dir / "rft")} if rft else {})}
        runs[seed] = compare_runs(summaries)
    runs = {seed: c for seed, c in runs.items() if c["start"]}
    return summarize_seeds(runs) if len(seeds) > 1 else runs[seeds[0]]


if __name__ == "__main__":
    main()
