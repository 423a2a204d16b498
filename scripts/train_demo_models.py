"""Train the two shipped demo models from scratch, deterministically, on a CPU.

    nice -n 5 python scripts/train_demo_models.py                     # writes src/plumcode/demo/models/
    python scripts/train_demo_models.py --out /tmp/models --policy-steps 50 --testgen-steps 50   # smoke run
    python scripts/train_demo_models.py --out /tmp/models --only policy --policy-seed 1         # another policy

1. Draw training problems from ``plumcode.demo.family`` (seed 0): the policy sees reference
   programs of ``seen`` compositions only; the test generator sees ``seen`` and
   ``instructions_only`` compositions (it plays PLUM's strong model, which can solve the
   instructions). Instances used as PLUM instructions or for evaluation are left out of both.
2. Train one byte-level BPE tokenizer on all training text.
3. Train each model (a small Llama) on (prompt, completion) pairs with the loss on the
   completion only. Sequences are right-padded and passed without an attention mask: causal
   attention never looks right, so padding cannot leak into real tokens, and an explicit mask
   would send SDPA to its slow path (about 5x slower on CPU).

The policy is deliberately short of training, so it solves only part of the held-out problems,
and its corpus writes steps that have a common bug with that bug half of the time (what the
loop's tests teach it to drop); the test generator trains longer, on correct programs. See
docs/demo.md for the recipe and measured numbers.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedTokenizerFast,
    Trainer,
    TrainingArguments,
)

from plumcode.demo import MODELS_DIR, corpus
from plumcode.demo.family import FamilyConfig, ProblemFamily, Style, load_entry_point
from plumcode.demo.sets import EVAL_PER_SPLIT, INSTRUCTIONS, held_out_bodies

SEED = 0
EOS, PAD = "<|endoftext|>", "<|pad|>"


@dataclass
class Recipe:
    """One model's size and training schedule."""

    hidden_size: int = 256
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 688
    steps: int = 1000
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_steps: int = 100
    examples: int = 20000
    init_from: str | None = None  # start from this already trained model (a sibling folder)
    seed: int = SEED  # weight initialisation and batch order (the problems are drawn with SEED)


POLICY = Recipe(steps=400, examples=20000)
# The generator starts from the policy's weights (it already writes the code of `seen`
# compositions) and trains further, in its own answer format, on `seen` and
# `instructions_only` compositions: that is what makes it the stronger model.
TESTGEN = Recipe(steps=600, examples=40000, learning_rate=1e-3, warmup_steps=50, init_from="policy")
TESTGEN_N_TESTS = 6
# Each step of the policy's programs that has a common bug (``corpus.COMMON_BUGS``) is written
# with it half of the time, as code gathered from the web carries bugs: the demo's policy must learn
# from executed tests which of its two habits is right (docs/demo.md, "The models").
POLICY_BUG_RATE = 0.5
VOCAB_SIZE = 1024


def policy_corpus(family: ProblemFamily, count: int, exclude: set[str], style: Style,
                  bug_rate: float = 0.0) -> list[tuple[str, str]]:
    """Prompts and reference bodies of ``seen`` compositions; with ``bug_rate``, steps that have a
    common bug (``corpus.COMMON_BUGS``) are written with it that often."""
    pairs = family.sample_with_instances("seen", "policy", count, exclude=exclude, distinct=False, style=style)
    rng = random.Random(f"bugs:{SEED}")
    return [(p.prompt, corpus.with_common_bugs(i, bug_rate, rng).body()) for p, i in pairs]


def testgen_corpus(family: ProblemFamily, count: int, exclude: set[str]) -> list[tuple[str, str]]:
    """Half ``seen``, half ``instructions_only`` compositions, in the generator's answer format."""
    examples = []
    for split in ("seen", "instructions_only"):
        for problem, instance in family.sample_with_instances(split, "testgen", count // 2, exclude=exclude):
            func = load_entry_point(problem.reference or "", problem.entry_point or "")
            examples.append(corpus.generator_example(problem, instance, func, TESTGEN_N_TESTS))
    random.Random(SEED).shuffle(examples)
    return examples


def train_tokenizer(texts: list[str]) -> PreTrainedTokenizerFast:
    """Byte-level BPE (any text encodes); left padding is set here so it is saved with the files.

    Newlines are pre-tokens of their own: GPT-2's byte-level split would glue a prompt's final
    newline to the indentation that starts the completion, so TRL (which tokenizes prompt +
    completion in one go) would train on other tokens than the model generated.
    """
    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Split("\n", behavior="isolated"), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[PAD, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(texts, trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=raw, eos_token=EOS, pad_token=PAD, padding_side="left")


def tokenize(examples: list[tuple[str, str]], tokenizer: PreTrainedTokenizerFast) -> list[dict[str, list[int]]]:
    """Prompt and completion are encoded apart, exactly as generation sees the prompt alone; the
    check that this equals encoding them together guards the tokenizer property TRL relies on."""
    rows = []
    for prompt, completion in examples:
        p = tokenizer(prompt)["input_ids"]
        c = tokenizer(completion)["input_ids"]
        if tokenizer(prompt + completion)["input_ids"] != p + c:
            raise ValueError(f"tokens merge across the prompt/completion boundary: {prompt[-20:]!r} + {completion[:20]!r}")
        c.append(tokenizer.eos_token_id)
        rows.append({"input_ids": p + c, "labels": [-100] * len(p) + c})
    return rows


class RightPadCollator:
    """Right-pad to the longest row; padding gets label -100 and no attention mask is built."""

    def __init__(self, pad_id: int):
        self.pad_id = pad_id

    def __call__(self, rows: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(r["input_ids"]) for r in rows)
        ids = [r["input_ids"] + [self.pad_id] * (width - len(r["input_ids"])) for r in rows]
        labels = [r["labels"] + [-100] * (width - len(r["labels"])) for r in rows]
        return {"input_ids": torch.tensor(ids), "labels": torch.tensor(labels)}


def train_model(name: str, recipe: Recipe, rows: list[dict[str, list[int]]],
                tokenizer: PreTrainedTokenizerFast, out: Path, scratch: Path) -> dict[str, float]:
    torch.manual_seed(recipe.seed)
    if recipe.init_from:
        model = LlamaForCausalLM.from_pretrained(out.parent / recipe.init_from, dtype=torch.float32)
    else:
        model = LlamaForCausalLM(_llama_config(recipe, tokenizer))
    args = TrainingArguments(
        output_dir=str(scratch / name),
        max_steps=recipe.steps,
        per_device_train_batch_size=recipe.batch_size,
        learning_rate=recipe.learning_rate,
        warmup_steps=recipe.warmup_steps,
        lr_scheduler_type="cosine",
        weight_decay=0.01,
        bf16=True,  # bf16 autocast: 2x faster than float32 on this CPU (AMX); weights stay float32
        use_cpu=True,
        train_sampling_strategy="group_by_length",  # similar lengths share a batch: little padding
        seed=recipe.seed,
        data_seed=recipe.seed,
        logging_steps=50,
        save_strategy="no",
        report_to="none",
        dataloader_num_workers=0,
    )
    trainer = Trainer(model=model, args=args, train_dataset=_Rows(rows), data_collator=RightPadCollator(tokenizer.pad_token_id))
    start = time.time()
    trainer.train()
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    losses = [r["loss"] for r in trainer.state.log_history if "loss" in r]
    return {"params": sum(p.numel() for p in model.parameters()), "seconds": round(time.time() - start, 1),
            "final_loss": losses[-1] if losses else float("nan")}


def _llama_config(recipe: Recipe, tokenizer: PreTrainedTokenizerFast) -> LlamaConfig:
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=recipe.hidden_size,
        intermediate_size=recipe.intermediate_size,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )


class _Rows(torch.utils.data.Dataset):
    """Token rows with the ``length`` Trainer's length grouping reads."""

    def __init__(self, rows: list[dict[str, list[int]]]):
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> dict[str, list[int]]:
        return self.rows[i]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=MODELS_DIR, help="folder for policy/ and testgen/")
    parser.add_argument("--policy-steps", type=int, default=POLICY.steps)
    parser.add_argument("--testgen-steps", type=int, default=TESTGEN.steps)
    parser.add_argument("--policy-examples", type=int, default=POLICY.examples, help="training problems drawn for the policy")
    parser.add_argument("--testgen-examples", type=int, default=TESTGEN.examples, help="... and for the generator")
    parser.add_argument("--policy-seed", type=int, default=POLICY.seed, help="the policy's initialisation and batch order")
    parser.add_argument("--policy-phrasings", type=int, default=0,
                        help="only the first N wordings of each step in the policy's corpus (0: all; docs/demo.md)")
    parser.add_argument("--policy-rare-share", type=float, default=0.0,
                        help="with --policy-phrasings: how often the other wordings appear (0: never)")
    parser.add_argument("--policy-bug-rate", type=float, default=POLICY_BUG_RATE,
                        help="how often the policy's corpus writes a step that has a common bug with it")
    parser.add_argument("--policy-name-words", type=int, default=2,
                        help="step words in the descriptive function names of the policy's corpus")
    parser.add_argument("--only", choices=["policy", "testgen"], help="train one model only")
    # One thread: on a busy 2-core machine two OpenMP threads spin at barriers whenever one is
    # descheduled (measured 6x slower than one thread). The shipped models used one thread.
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (results depend on it)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(SEED)
    random.seed(SEED)
    policy = Recipe(**{**asdict(POLICY), "steps": args.policy_steps, "seed": args.policy_seed,
                       "examples": args.policy_examples})
    testgen = Recipe(**{**asdict(TESTGEN), "steps": args.testgen_steps, "examples": args.testgen_examples})

    family = ProblemFamily(FamilyConfig(seed=SEED))
    exclude = held_out_bodies(family, EVAL_PER_SPLIT, INSTRUCTIONS)
    policy_style = Style(phrasings=args.policy_phrasings or None, rare_share=args.policy_rare_share,
                         name_words=args.policy_name_words)
    policy_examples = policy_corpus(family, policy.examples, exclude, policy_style, args.policy_bug_rate)
    testgen_examples = testgen_corpus(family, testgen.examples, exclude)
    tokenizer = train_tokenizer([p + c for p, c in policy_examples + testgen_examples])
    report: dict[str, object] = {"vocab_size": len(tokenizer), "policy_style": asdict(policy_style),
                                "policy_bug_rate": args.policy_bug_rate}
    scratch = Path(tempfile.mkdtemp(prefix="plum-demo-train-"))  # Trainer's output_dir; nothing kept
    for name, recipe, examples in (("policy", policy, policy_examples), ("testgen", testgen, testgen_examples)):
        if args.only and args.only != name:
            continue
        rows = tokenize(examples, tokenizer)
        stats = {"recipe": asdict(recipe), "mean_tokens": round(sum(len(r["input_ids"]) for r in rows) / len(rows), 1)}
        stats.update(train_model(name, recipe, rows, tokenizer, args.out / name, scratch))
        report[name] = stats
        print(json.dumps({name: stats}))
    (args.out / "training_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
