"""Generation through an OpenAI-compatible HTTP server (OpenAI, ``vllm serve``, ``plum serve``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlparse

import openai

from plum_data.generation.base import Completion, GeneratorConfig, Prompt, continues_final_message
from plum_data.generation.params import SamplingParams, truncate_at_stop
from plum_exec.errors import PlumError

# OpenAI's API takes at most 4 stop strings; the rest are applied to the text here.
_SERVER_STOP_LIMIT = 4


class OpenAIGenerator:
    """Chat messages go to /chat/completions, raw text to /completions.

    Retries: the ``openai`` client's own ``max_retries``, which backs off exponentially (with
    jitter, honouring ``Retry-After``) on connection errors, timeouts, 408, 409, 429 and 5xx.
    Requests run on a thread pool of ``max_concurrency`` threads (the client is thread-safe).
    ``usage`` accumulates the token counts the server reports.
    """

    chat = True

    def __init__(self, config: GeneratorConfig):
        self.model = config.model
        self.max_concurrency = config.max_concurrency
        self.prefill = config.server_prefill
        self.client = openai.OpenAI(
            base_url=config.base_url,
            api_key=_api_key(config),
            max_retries=config.max_retries,
            timeout=config.request_timeout,
        )
        self.usage = {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
        self._usage_lock = threading.Lock()

    def generate(self, prompts: Sequence[Prompt], params: SamplingParams) -> list[list[Completion]]:
        with ThreadPoolExecutor(max_workers=self.max_concurrency) as pool:
            return list(pool.map(lambda p: self._request(p, params), prompts))

    def _request(self, prompt: Prompt, params: SamplingParams) -> list[Completion]:
        kwargs = _request_kwargs(params)
        try:
            if isinstance(prompt, str):
                response = self.client.completions.create(model=self.model, prompt=prompt, **kwargs)
                texts = [c.text for c in response.choices]
            else:
                if continues_final_message(prompt) and self.prefill:
                    kwargs["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
                response = self.client.chat.completions.create(model=self.model, messages=prompt, **kwargs)
                texts = [c.message.content or "" for c in response.choices]
        except openai.APIStatusError as exc:
            raise PlumError(f"{self.client.base_url}: HTTP {exc.status_code} after retries ({_message(exc)})") from None
        except openai.APIConnectionError as exc:
            raise PlumError(f"{self.client.base_url}: {exc.__class__.__name__} after retries ({exc})") from None
        return self._completions(response, texts, params)

    def _completions(self, response: Any, texts: list[str], params: SamplingParams) -> list[Completion]:
        usage = response.usage
        prompt_tokens = usage.prompt_tokens if usage else None
        # The server reports completion tokens per request; per choice only when there is one.
        completion_tokens = usage.completion_tokens if usage and len(texts) == 1 else None
        if usage:
            with self._usage_lock:
                self.usage["requests"] += 1
                self.usage["prompt_tokens"] += usage.prompt_tokens
                self.usage["completion_tokens"] += usage.completion_tokens
        completions = []
        for choice, text in zip(response.choices, texts, strict=True):
            text, stopped = truncate_at_stop(text, params.stop)
            finish = "length" if choice.finish_reason == "length" and not stopped else "stop"
            completions.append(Completion(text, finish, prompt_tokens, completion_tokens))
        return completions


def _request_kwargs(params: SamplingParams) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "n": params.n,
        "temperature": params.temperature,
        "max_tokens": params.max_new_tokens,
    }
    if not params.greedy:
        kwargs["top_p"] = params.top_p
    if params.stop:
        kwargs["stop"] = list(params.stop[:_SERVER_STOP_LIMIT])
    if params.seed is not None:
        kwargs["seed"] = params.seed
    return kwargs


def _api_key(config: GeneratorConfig) -> str:
    key = os.environ.get(config.api_key_env)
    if key:
        return key
    host = urlparse(config.base_url or "").hostname
    if host in ("127.0.0.1", "localhost", "::1"):
        return "EMPTY"  # local servers (vllm serve, plum serve) accept any key
    raise PlumError(f"environment variable {config.api_key_env} (api_key_env) is not set")


def _message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        body = body.get("error", body)
        if isinstance(body, dict):
            body = body.get("message", body)
    return str(body or exc.message).splitlines()[0][:200]
