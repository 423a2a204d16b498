"""``plum serve``: an OpenAI-compatible HTTP server over a local model (the transformers backend).

Endpoints: ``GET /v1/models``, ``POST /v1/chat/completions``, ``POST /v1/completions``, with
OpenAI's request fields ``n``, ``temperature``, ``top_p``, ``max_tokens``, ``stop``, ``seed``
and vLLM's ``continue_final_message`` extension (a final assistant message is continued, which
is how EvalPlus's response prefix reaches the model). No streaming.

Built on the standard library's ``ThreadingHTTPServer``: one local model answers one request at
a time anyway (a lock serializes generation), so an async framework would add a dependency and
buy nothing. It binds loopback addresses only; for serving at scale use ``vllm serve``.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from plum_data.generation import Completion, Generator, Prompt, SamplingParams
from plum_exec.errors import PlumError

log = logging.getLogger(__name__)


@dataclass
class ServeConfig:
    host: str = field(default="127.0.0.1", metadata={"help": "loopback address to bind"})
    port: int = field(default=8000, metadata={"help": "TCP port (0 picks a free one)"})
    served_model_name: str | None = field(
        default=None, metadata={"help": "model name clients send (default: --model as given)"}
    )
    default_max_tokens: int = field(
        default=512, metadata={"help": "max_tokens when a request does not say"}
    )

    def __post_init__(self) -> None:
        try:
            address = ipaddress.ip_address(socket.gethostbyname(self.host))
        except (OSError, ValueError):
            raise ValueError(f"host {self.host}: cannot resolve") from None
        if not address.is_loopback:
            raise ValueError(f"host {self.host}: plum serve binds loopback addresses only (e.g. 127.0.0.1)")


class RequestError(Exception):
    """A bad request: answered with HTTP 400 and OpenAI's error body."""


class OpenAIServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, generator: Generator, model_name: str, config: ServeConfig):
        self.generator = generator
        self.model_name = model_name
        self.config = config
        self.generate_lock = threading.Lock()
        try:
            super().__init__((config.host, config.port), _Handler)
        except OSError as exc:
            raise PlumError(f"cannot listen on {config.host}:{config.port} ({exc.strerror or exc})") from None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/v1"

    def complete(self, prompts: list[Prompt], params: SamplingParams) -> list[list[Completion]]:
        with self.generate_lock:
            return self.generator.generate(prompts, params)


class _Handler(BaseHTTPRequestHandler):
    server: OpenAIServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.path.rstrip("/") != "/v1/models":
            return self._send(404, _error(f"no route {self.path}", "not_found"))
        model = {"id": self.server.model_name, "object": "model", "created": 0, "owned_by": "plumcode"}
        self._send(200, {"object": "list", "data": [model]})

    def do_POST(self) -> None:  # noqa: N802
        routes = {"/v1/chat/completions": self._chat, "/v1/completions": self._completions}
        route = routes.get(self.path.rstrip("/"))
        try:
            body = self._json_body()
            if route is None:
                return self._send(404, _error(f"no route {self.path}", "not_found"))
            self._send(200, route(body))
        except RequestError as exc:
            self._send(400, _error(str(exc), "invalid_request_error"))
        except Exception as exc:  # the server must answer, not drop the connection
            log.exception("request failed")
            self._send(500, _error(f"{type(exc).__name__}: {exc}", "server_error"))

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        messages = [_message(m) for m in _field(body, "messages", list)]
        if not messages:
            raise RequestError("'messages' must not be empty")
        params = self._params(body)
        [completions] = self.server.complete([messages], params)
        choices = [
            {"index": i, "message": {"role": "assistant", "content": c.text}, "finish_reason": c.finish_reason}
            for i, c in enumerate(completions)
        ]
        return self._reply("chat.completion", choices, completions, completions[0].prompt_tokens or 0)

    def _completions(self, body: dict[str, Any]) -> dict[str, Any]:
        prompt = _field(body, "prompt", (str, list))
        prompts = [prompt] if isinstance(prompt, str) else prompt
        if not prompts or not all(isinstance(p, str) for p in prompts):
            raise RequestError("'prompt' must be a string or a non-empty list of strings")
        params = self._params(body)
        outputs = self.server.complete(prompts, params)
        flat = [c for completions in outputs for c in completions]
        choices = [{"index": i, "text": c.text, "finish_reason": c.finish_reason} for i, c in enumerate(flat)]
        prompt_tokens = sum(completions[0].prompt_tokens or 0 for completions in outputs)
        return self._reply("text_completion", choices, flat, prompt_tokens)

    def _params(self, body: dict[str, Any]) -> SamplingParams:
        if body.get("stream"):
            raise RequestError("streaming is not supported")
        stop = body.get("stop") or ()
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        try:
            return SamplingParams(
                n=body.get("n") or 1,
                temperature=1.0 if body.get("temperature") is None else body["temperature"],
                top_p=1.0 if body.get("top_p") is None else body["top_p"],
                max_new_tokens=max_tokens or self.server.config.default_max_tokens,
                stop=(stop,) if isinstance(stop, str) else tuple(stop),
                seed=body.get("seed"),
            )
        except (TypeError, ValueError) as exc:
            raise RequestError(str(exc)) from None

    def _reply(
        self, kind: str, choices: list[dict[str, Any]], completions: list[Completion], prompt_tokens: int
    ) -> dict[str, Any]:
        completion_tokens = sum(c.completion_tokens or 0 for c in completions)
        return {
            "id": f"plum-{uuid.uuid4().hex}",
            "object": kind,
            "created": int(time.time()),
            "model": self.server.model_name,
            "choices": choices,
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        }

    def _json_body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError as exc:
            raise RequestError(f"request body is not JSON ({exc.msg})") from None
        if not isinstance(body, dict):
            raise RequestError("request body must be a JSON object")
        return body

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        log.debug("%s - %s", self.address_string(), format % args)


def _field(body: dict[str, Any], key: str, types: type | tuple[type, ...]) -> Any:
    if not isinstance(body.get(key), types):
        raise RequestError(f"missing or invalid field '{key}'")
    return body[key]


def _message(message: Any) -> dict[str, str]:
    """A chat message with text content (OpenAI's list-of-parts content is joined)."""
    if not isinstance(message, dict) or not isinstance(message.get("role"), str):
        raise RequestError("each message needs a 'role' and a 'content'")
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise RequestError("each message needs a 'role' and a 'content'")
    return {"role": message["role"], "content": content}


def _error(message: str, kind: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}
