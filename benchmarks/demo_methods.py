"""Training methods on the demo over seeds: `plum demo --seeds K --compare rft` with a method's settings.

    nice -n 5 python benchmarks/demo_methods.py --method dpo-rpo --seeds 3 --out /tmp/demo_methods
    nice -n 5 python benchmarks/demo_methods.py --method dpo-rpo --n 4 --seeds 1 --no-rft --out /tmp/demo_methods \
        --tests /tmp/demo_methods/dpo-rpo/seed_0/tests.jsonl

Each method is a named set of `--set` overrides of the demo config (METHODS below). The run
folder is OUT/METHOD[_nN] (rerunning resumes it); the demo's comparison (mean, sd, per-seed
values of greedy pass@1 on seen / instructions_only / unseen, with RFT beside it) goes to
benchmarks/results/demo_METHOD[_nN].json with the command, the wall time and the machine's load.
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
    args = parser.parse_args()

    from plumcode.cli import main as plum

    name = args.method + (f"_n{args.n}" if args.n else "")
    overrides = METHODS[args.method] + ([f"sampling.n={args.n}"] if args.n else [])
    if args.tests:
        overrides += [f"instructions.problems={args.tests.resolve()}", "test_generator=null"]
    argv = ["demo", "--out", str(args.out / name), "--seed", str(args.seed), "--seeds", str(args.seeds)]
    argv += [x for item in overrides for x in ("--set", item)] + (["--compare", "rft"] if args.rft else [])
    load_before, started = os.getloadavg(), time.monotonic()
    if plum(argv) != 0:
        sys.exit(1)
    comparison = json.loads((args.out / name / "comparison.json").read_text(encoding="utf-8"))
    write_json(RESULTS / f"demo_{name}.json", {
        "command": "plum " + " ".join(argv), "method": args.method, "overrides": overrides,
        "wall_seconds": round(time.monotonic() - started, 1),
        "load_average": {"start": load_before, "end": os.getloadavg()}, "cpus": os.cpu_count(),
        "comparison": comparison,
    })  # fmt: skip


if __name__ == "__main__":
    main()
