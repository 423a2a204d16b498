"""Shared fixtures: a tiny local causal LM (no hub access here), the shared benchmark data and a
sandbox per test module."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from plum_exec.sandbox import Sandbox, SandboxConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

# A chat template in the ChatML style most instruct models use; `add_generation_prompt` opens
# the assistant turn, exactly where the generation backends expect to continue.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|pad|>", "<|bos|>", "<|eos|>", "<|im_start|>", "<|im_end|>"]

# Training text for the tokenizer: enough Python and prose for a few hundred merges.
_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "def is_prime(n: int) -> bool:\n    if n < 2:\n        return False\n"
    "    for i in range(2, int(n ** 0.5) + 1):\n        if n % i == 0:\n            return False\n"
    "    return True\n",
    "import math\nfrom typing import List\n\nclass Stack:\n    def __init__(self):\n"
    "        self.items = []\n\n    def push(self, x):\n        self.items.append(x)\n",
    "```python\nprint('hello world')\n```\n",
    "Write a function to find the maximum of a list of numbers.\n",
    "assert add(1, 2) == 3\nassert is_prime(7) is True\n",
    "Here is the solution to the problem. The function returns the result.\n",
    "while left <= right:\n    mid = (left + right) // 2\n    if nums[mid] < target:\n"
    "        left = mid + 1\n    else:\n        right = mid - 1\n",
    "def count_words(text: str) -> dict:\n    counts = {}\n    for word in text.split():\n"
    "        counts[word] = counts.get(word, 0) + 1\n    return counts\n",
    "try:\n    value = int(line.strip())\nexcept ValueError:\n    raise\nfinally:\n    pass\n",
    "result = sorted(items, key=lambda item: (item[1], item[0]), reverse=True)\n",
    "Return the number of vowels in the given string. Ignore upper and lower case.\n",
    "if __name__ == '__main__':\n    print(fibonacci(10))\n",
    "def flatten(nested):\n    return [x for sub in nested for x in sub]\n",
    "with open(path, encoding='utf-8') as handle:\n    lines = handle.readlines()\n",
]


def build_tiny_model(out_dir: Path, *, seed: int = 0) -> Path:
    """Write a randomly initialised tiny Llama and a locally trained byte-level BPE tokenizer."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_CORPUS * 20, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token="<|bos|>",
        eos_token="<|eos|>",
        pad_token="<|pad|>",
        padding_side="left",
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out_dir)

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=[tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids("<|im_end|>")],
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=True,
    )
    LlamaForCausalLM(config).save_pretrained(out_dir)
    return out_dir


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder loadable with AutoModelForCausalLM / AutoTokenizer.from_pretrained."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The read-only benchmark copies in /work/shared/data (README there), or skip."""
    path = Path(os.environ.get("PLUMCODE_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        pytest.skip(f"shared benchmark data not found at {path} (set PLUMCODE_SHARED_DATA)")
    return path


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    """Two workers, default isolation, shared by the tests of one module."""
    with Sandbox(SandboxConfig(workers=2)) as box:
        yield box
