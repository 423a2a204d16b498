"""``plum serve`` and the OpenAI-compatible backend, talking to each other over real HTTP."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

from plum_data.cli import cli
from plum_data.generation import GeneratorConfig, SamplingParams, load_generator
from plum_data.serve import OpenAIServer, ServeConfig
from plum_exec.command import run_main
from plum_exec.errors import PlumError


def main(argv: list[str]) -> int:
    return run_main(cli, argv, "plum-data")


@pytest.fixture(scope="module")
def local_generator(tiny_model_dir):
    return load_generator(GeneratorConfig(model=str(tiny_model_dir), backend="transformers"))


@pytest.fixture(scope="module")
def server(local_generator):
    srv = OpenAIServer(local_generator, "tiny", ServeConfig(port=0))
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def client_generator(url: str, **kwargs) -> object:
    return load_generator(GeneratorConfig(model="tiny", base_url=url, **kwargs))


def test_chat_over_http_matches_the_local_backend(server, local_generator):
    remote = client_generator(server.url, server_prefill=True)
    params = SamplingParams(n=2, temperature=0, max_new_tokens=6)
    asked = [{"role": "user", "content": "Write f."}]
    prefilled = [*asked, {"role": "assistant", "content": "Here:\n```python\n"}]
    over_http = remote.generate([asked, prefilled], params)
    local = local_generator.generate([asked, prefilled], params)
    assert [[c.text for c in cs] for cs in over_http] == [[c.text for c in cs] for cs in local]
    assert over_http[0][0].prompt_tokens == local[0][0].prompt_tokens
    assert over_http[1][0].prompt_tokens == local[1][0].prompt_tokens  # the prefix was continued
    assert remote.usage["requests"] == 2
    assert remote.usage["completion_tokens"] == sum(c.completion_tokens for cs in local for c in cs)


def test_completions_endpoint_with_several_prompts(server, local_generator):
    client = openai.OpenAI(base_url=server.url, api_key="unused")
    response = client.completions.create(model="tiny", prompt=["def f(x):", "import"], n=2, max_tokens=5, temperature=0)
    texts = [c.text for c in response.choices]
    local = local_generator.generate(["def f(x):", "import"], SamplingParams(n=2, temperature=0, max_new_tokens=5))
    assert texts == [c.text for cs in local for c in cs]
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    assert response.usage.prompt_tokens == local[0][0].prompt_tokens + local[1][0].prompt_tokens


def test_openai_backend_raw_text_uses_completions_with_stop(server):
    remote = client_generator(server.url)
    free = remote.generate(["def f(x):"], SamplingParams(temperature=0, max_new_tokens=10))[0][0]
    stop = free.text[3:5]
    # More than OpenAI's 4 stop strings: the rest are applied by the client.
    stops = ("\x01", "\x02", "\x03", "\x04", stop)
    cut = remote.generate(["def f(x):"], SamplingParams(temperature=0, max_new_tokens=10, stop=stops))[0][0]
    assert cut.text == free.text[: free.text.find(stop)] and cut.finish_reason == "stop"
    assert free.completion_tokens == 10 and free.finish_reason == "length"


def test_models_endpoint_and_bad_requests(server):
    client = openai.OpenAI(base_url=server.url, api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["tiny"]
    with pytest.raises(openai.BadRequestError, match="temperature must be non-negative"):
        client.chat.completions.create(model="tiny", messages=[{"role": "user", "content": "x"}], temperature=-1)
    with pytest.raises(openai.BadRequestError, match="streaming is not supported"):
        client.completions.create(model="tiny", prompt="x", stream=True)
    with pytest.raises(openai.NotFoundError):
        client.post("/embeddings", body={}, cast_to=object)


def test_serve_refuses_non_loopback_hosts(capsys):
    with pytest.raises(ValueError, match="loopback addresses only"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="localhost").host == "localhost"
    # The command checks the host before loading any model (none exists at this path).
    assert main(["serve", "--model", "./no-such-model", "--host", "10.0.0.1"]) == 2
    assert capsys.readouterr().err == (
        "plum-data: error: command line: host 10.0.0.1: plum serve binds loopback addresses only (e.g. 127.0.0.1)\n"
    )


# ---------------------------------------------------------------- retries against a flaky server


class _FlakyHandler(BaseHTTPRequestHandler):
    """Answers 429, then 500, then a valid chat completion (statuses come from server.script)."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        with self.server.lock:
            status = self.server.script.pop(0) if self.server.script else 200
            self.server.seen.append(status)
            self.server.in_flight += 1
            self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
        time.sleep(0.05)  # long enough for concurrent requests to overlap
        with self.server.lock:
            self.server.in_flight -= 1
        body = {"error": {"message": f"status {status}"}}
        if status == 200:
            body = {
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
            }
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("retry-after-ms", "10")  # the openai client honours it: fast tests
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _FlakyHandler)
    srv.script, srv.seen, srv.lock = [], [], threading.Lock()
    srv.in_flight = srv.most_in_flight = 0
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()
    srv.server_close()


def test_retries_429_and_500_then_succeeds(flaky):
    srv, url = flaky
    srv.script = [429, 500]
    out = client_generator(url, max_retries=3).generate([[{"role": "user", "content": "hi"}]], SamplingParams())
    assert srv.seen == [429, 500, 200]
    assert out[0][0].text == "ok" and (out[0][0].prompt_tokens, out[0][0].completion_tokens) == (3, 1)


def test_gives_up_after_max_retries_with_one_line_error(flaky):
    srv, url = flaky
    srv.script = [503] * 5
    with pytest.raises(PlumError, match=r"HTTP 503 after retries \(status 503\)$"):
        client_generator(url, max_retries=2).generate([[{"role": "user", "content": "hi"}]], SamplingParams())
    assert srv.seen == [503, 503, 503]


def test_concurrent_requests_are_bounded(flaky):
    srv, url = flaky
    prompts = [[{"role": "user", "content": str(i)}] for i in range(6)]
    out = client_generator(url, max_concurrency=2).generate(prompts, SamplingParams())
    assert len(out) == 6 and all(cs[0].text == "ok" for cs in out)
    assert srv.seen == [200] * 6
    assert srv.most_in_flight == 2


def test_remote_server_needs_the_key_variable(monkeypatch):
    monkeypatch.delenv("PLUM_TEST_KEY", raising=False)
    with pytest.raises(PlumError, match="PLUM_TEST_KEY"):
        client_generator("https://api.example.com/v1", api_key_env="PLUM_TEST_KEY")
