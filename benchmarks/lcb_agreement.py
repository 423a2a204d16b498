"""Verdict agreement between plum and LiveCodeBench's own grader on real model answers.

Inputs: LiveCodeBench evaluation outputs (``*_eval_all.json`` as ``lcb_runner`` writes them:
per problem ``question_id``, ``output_list`` = raw model answers, ``code_list`` = what its
``extract_code`` took from them), the public-test problems file, and a checkout of
LiveCodeBench (its ``lcb_runner`` is imported from there at run time; nothing of it is copied
here). For every answer it checks:

1. extraction: ``plum_exec.extraction.extract_livecodebench(answer)`` == LiveCodeBench's code;
2. verdicts on the public tests: ``plum evaluate-samples`` (sandboxed) against LiveCodeBench's
   ``codegen_metrics`` (its own process-per-sample grader, timeout 6 s), sample by sample:
   pass/fail, and the failure kind (wrong answer -2, timeout -3, runtime error -4, crash -1);
3. the hand-written programs of tests/exec/test_livecodebench.py: LiveCodeBench's grader
   (timeout 1 s) against the statuses those tests expect from plum.

    python benchmarks/lcb_agreement.py --lcb-repo /tmp/LiveCodeBench \\
        --outputs Qwen2.5-Ins-7B=/tmp/q25_eval_all.json --outputs Qwen-3-8B=/tmp/q3_eval_all.json \\
        --work /tmp/lcb-agreement --out benchmarks/results/lcb_agreement.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DATASET = Path("/work/shared/data/livecodebench/lcb_release_v1_public.jsonl")
# LiveCodeBench's error codes, as plum's statuses.
LCB_STATUS = {True: "pass", -2: "fail", -3: "timeout", -4: "error", -1: "crash"}


def answers(outputs: Path, task_ids: set[str]) -> list[dict[str, Any]]:
    rows = []
    for problem in json.loads(outputs.read_text()):
        if problem["question_id"] not in task_ids:
            continue
        codes, texts = (_list(problem[k]) for k in ("code_list", "output_list"))
        for i, (code, text) in enumerate(zip(codes, texts, strict=True)):
            rows.append({"task_id": problem["question_id"], "sample_id": i, "solution": code, "response": text})
    return rows


def _list(value: Any) -> list[str]:
    return json.loads(value) if isinstance(value, str) else list(value)


def run_plum(samples: Path, out: Path, workers: int) -> tuple[dict[tuple[str, int], str], float]:
    out.unlink(missing_ok=True)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "plum_exec", "evaluate-samples", "--benchmark", "livecodebench",
         "--dataset-path", str(DATASET), "--samples", str(samples), "--out", str(out), "--workers", str(workers)],
        check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {(r["task_id"], r["sample_id"]): r["base_status"] for r in rows}, elapsed


REFERENCE = """
import json, sys
sys.path.insert(0, sys.argv[1])
sys.set_int_max_str_digits(50000)
from lcb_runner.evaluation.compute_code_generation_metrics import evaluate_generations
problems = {p["question_id"]: p for p in map(json.loads, open(sys.argv[2]))}
rows = [json.loads(line) for line in open(sys.argv[3])]
def sample(p):
    tests = json.loads(p["public_test_cases"])
    return {"input_output": json.dumps({"inputs": [t["input"] for t in tests], "outputs": [t["output"] for t in tests],
            "fn_name": json.loads(p["metadata"]).get("func_name")})}
results, _ = evaluate_generations([sample(problems[r["task_id"]]) for r in rows], [[r["solution"]] for r in rows],
                                  num_process_evaluate=int(sys.argv[5]), timeout=6)
with open(sys.argv[4], "w") as out:
    for i, r in enumerate(rows):
        verdicts = results[i][0]
        first = next((v for v in verdicts if v is not True), True)
        out.write(json.dumps({"task_id": r["task_id"], "sample_id": r["sample_id"], "lcb": first if first is True else (-2 if first is False else int(first))}) + "\\n")
"""


def run_lcb(lcb_repo: Path, samples: Path, out: Path, workers: int) -> tuple[dict[tuple[str, int], str], float]:
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-c", REFERENCE, str(lcb_repo), str(DATASET), str(samples), str(out), str(workers)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=lcb_repo,
    )  # fmt: skip
    elapsed = time.monotonic() - started
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return {(r["task_id"], r["sample_id"]): LCB_STATUS.get(r["lcb"], str(r["lcb"])) for r in rows}, elapsed


HAND_WRITTEN = """
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
sys.set_int_max_str_digits(50000)
import numpy as np
from lcb_runner.evaluation.compute_code_generation_metrics import check_correctness
import test_livecodebench as t
CODES = {True: "pass", False: "fail", -2: "fail", -3: "timeout", -4: "error", -1: "error"}
report = {}
for kind, table, tests, fn in (("stdio", t.SUM_PROGRAMS, t.SUM, None), ("functional", t.TWO_SUM_PROGRAMS, t.TWO_SUM, "twoSum")):
    io = {"inputs": [x.inputs for x in tests], "fn_name": fn,
          "outputs": [x.expected if x.kind == "stdio" else json.dumps(x.expected) for x in tests]}
    for name, (program, expected) in table.items():
        res, _ = check_correctness({"input_output": json.dumps(io)}, program, timeout=1, debug=False)
        res = [r.item(0) if isinstance(r, np.ndarray) else r for r in res]  # as evaluate_generations_by_problem
        got = t.lcb_view([CODES[r if r is True or r is False else int(r)] for r in res])
        report[f"{kind}/{name}"] = {"lcb": got, "plum": expected}
print(json.dumps(report))
"""


def hand_written(lcb_repo: Path) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", HAND_WRITTEN, str(lcb_repo), str(ROOT / "tests" / "exec")],
        check=True, capture_output=True, text=True, cwd=lcb_repo,
    )  # fmt: skip
    cases = json.loads(proc.stdout.strip().splitlines()[-1])
    # LiveCodeBench lists a test it judged through a numpy array twice (the array, then -4).
    differs = {n: c for n, c in cases.items() if c["lcb"] != c["plum"] and c["lcb"][-1] != c["plum"][-1]}
    return {"programs": len(cases), "same_verdict_and_kind": len(cases) - len(differs), "differs": differs}


def compare(name: str, rows: list[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    from plum_exec.extraction import extract_livecodebench

    extraction_differs = [f"{r['task_id']}/{r['sample_id']}" for r in rows if extract_livecodebench(r["response"]) != r["solution"]]
    samples = args.work / f"{name}.samples.jsonl"
    samples.write_text("".join(json.dumps({k: r[k] for k in ("task_id", "sample_id", "solution")}) + "\n" for r in rows))
    ours, our_seconds = run_plum(samples, args.work / f"{name}.plum.jsonl", args.workers)
    theirs, their_seconds = run_lcb(args.lcb_repo, samples, args.work / f"{name}.lcb.jsonl", args.workers)
    keys = sorted(theirs)
    verdict_differs = [
        {"sample": f"{t}/{s}", "plum": ours[(t, s)], "lcb": theirs[(t, s)]}
        for t, s in keys if (ours[(t, s)] == "pass") != (theirs[(t, s)] == "pass")
    ]
    kind_differs = [
        {"sample": f"{t}/{s}", "plum": ours[(t, s)], "lcb": theirs[(t, s)]}
        for t, s in keys if ours[(t, s)] != theirs[(t, s)] and (t, s) not in {tuple(d["sample"].split("/")) for d in verdict_differs}
    ]
    return {
        "answers": len(rows),
        "extraction_identical": len(rows) - len(extraction_differs),
        "extraction_differs": extraction_differs,
        "plum_pass": sum(v == "pass" for v in ours.values()),
        "lcb_pass": sum(v == "pass" for v in theirs.values()),
        "verdict_agreement": len(keys) - len(verdict_differs),
        "verdict_differs": verdict_differs,
        "status_agreement": sum(ours[k] == theirs[k] for k in keys),
        "status_differs": kind_differs,
        "plum_seconds": round(our_seconds, 1),
        "lcb_seconds": round(their_seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lcb-repo", type=Path, required=True, help="a LiveCodeBench checkout (holds lcb_runner/)")
    parser.add_argument("--outputs", action="append", required=True, help="NAME=PATH of an *_eval_all.json")
    parser.add_argument("--work", type=Path, default=Path("/tmp/plumcode-lcb-agreement"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    task_ids = {json.loads(line)["question_id"] for line in DATASET.read_text().splitlines()}
    report: dict[str, Any] = {"hand_written": hand_written(args.lcb_repo)}
    print("hand-written", json.dumps(report["hand_written"]))
    for spec in args.outputs:
        name, _, path = spec.partition("=")
        report[name] = compare(name, answers(Path(path), task_ids), args)
        summary = {k: v for k, v in report[name].items() if not isinstance(v, list)}
        print(name, json.dumps(summary))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "packages" / "plum-exec" / "src"))
    main()
