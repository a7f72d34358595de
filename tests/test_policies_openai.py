"""The openai backend against a real chat-completions HTTP server on loopback."""
import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandmle.errors import UserError
from sandmle.policies import SamplingParams, make_policy
from sandmle.policies.openai_api import OpenAIPolicy

STOP = ("</tool_call>", "</answer>")


class Server:
    """Answers by the last user message: 'fail-once' (500 then success), 'slow', 'bad' (400),
    'eos' (no stop string), 'long' (length), else a tool call stripped of its stop string."""

    def __init__(self):
        self.requests: list[dict] = []
        self.failed_once: set[str] = set()
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with server.lock:
                    server.requests.append(body)
                prompt = body["messages"][-1]["content"]
                if prompt == "fail-once" and prompt not in server.failed_once:
                    with server.lock:
                        server.failed_once.add(prompt)
                    return self.reply(500, {"error": {"message": "boom"}})
                if prompt == "bad":
                    return self.reply(400, {"error": {"message": "bad request"}})
                if prompt == "slow":
                    with server.lock:
                        server.in_flight += 1
                        server.max_in_flight = max(server.max_in_flight, server.in_flight)
                    time.sleep(0.8)
                    with server.lock:
                        server.in_flight -= 1
                text, reason, extra = '<think>x</think><tool_call>{"name": "score"}', "stop", {}
                if prompt == "eos":
                    text = "<think>x</think><answer>submission.csv</answer>"
                elif prompt == "long":
                    reason = "length"
                elif prompt == "vllm":
                    text, extra = "<think>x</think><answer>submission.csv", {"stop_reason": "</answer>"}
                self.reply(200, {
                    "id": "c1", "object": "chat.completion", "created": 0, "model": body["model"],
                    "choices": [{"index": 0, "finish_reason": reason, **extra,
                                 "message": {"role": "assistant", "content": f"{prompt}|{text}"}}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})

            def reply(self, status, payload):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


def convo(text):
    return [{"role": "system", "content": "sys"}, {"role": "user", "content": text}]


def policy(server, **kw):
    kw.setdefault("backoff_s", 0.01)
    return OpenAIPolicy("m", server.url, **kw)


def test_batch_order_stop_string_restored_and_request_fields(server):
    p = make_policy(f"openai:m@{server.url}", backoff_s=0.01)
    sampling = SamplingParams(temperature=0.5, top_p=0.9, max_new_tokens=77, stop=STOP, seed=3)
    gens = p.generate([convo(f"q{i}") for i in range(5)], sampling)
    assert [g.text.split("|")[0] for g in gens] == [f"q{i}" for i in range(5)]
    assert all(g.text.endswith('{"name": "score"}</tool_call>') and g.finish_reason == "stop" for g in gens)
    [req] = [r for r in server.requests if r["messages"][-1]["content"] == "q0"]
    assert (req["temperature"], req["top_p"], req["max_tokens"], req["stop"], req["seed"]) == (0.5, 0.9, 77, list(STOP), 3)
    assert req["messages"] == convo("q0")
    # Each row of a batch gets its own seed, so identical prompts sample differently.
    assert sorted(r["seed"] for r in server.requests) == [3, 4, 5, 6, 7]


def test_no_stop_appended_after_end_of_turn_and_vllm_stop_reason(server):
    gens = policy(server).generate([convo("eos"), convo("vllm"), convo("long")], SamplingParams(stop=STOP))
    assert gens[0].text.endswith("<answer>submission.csv</answer>") and gens[0].text.count("</answer>") == 1
    assert gens[1].text.endswith("<answer>submission.csv</answer>")
    assert gens[2].finish_reason == "length" and not gens[2].text.endswith("</tool_call>")


def test_500_is_retried_then_succeeds(server):
    [g] = policy(server, max_retries=2).generate([convo("fail-once")], SamplingParams(stop=STOP))
    assert g.finish_reason == "stop" and g.text.startswith("fail-once|")
    assert sum(r["messages"][-1]["content"] == "fail-once" for r in server.requests) == 2


def test_400_is_not_retried_and_becomes_an_error_generation(server):
    [g] = policy(server, max_retries=3).generate([convo("bad")], SamplingParams())
    assert g.finish_reason == "error" and "HTTP 400" in g.error and g.text == ""
    assert len(server.requests) == 1


def test_timeout_is_retried_then_reported(server):
    gens = policy(server, timeout_s=0.3, max_retries=1).generate([convo("slow"), convo("ok")], SamplingParams(stop=STOP))
    assert gens[0].finish_reason == "error" and "Timeout" in gens[0].error and "2 attempts" in gens[0].error
    assert gens[1].finish_reason == "stop"


def test_unreachable_endpoint_is_an_error_not_an_exception():
    p = OpenAIPolicy("m", "http://127.0.0.1:9/v1", max_retries=1, backoff_s=0.01, timeout_s=2)
    [g] = p.generate([convo("x")], SamplingParams())
    assert g.finish_reason == "error" and "Connection" in g.error


def test_concurrency_limit(server):
    p = policy(server, max_concurrency=2)
    gens = p.generate([convo("slow")] * 4, SamplingParams())
    assert all(g.finish_reason == "stop" for g in gens)
    assert server.max_in_flight == 2


def test_generate_inside_a_running_event_loop(server):
    p = policy(server)

    async def main():
        return p.generate([convo("inside")], SamplingParams(stop=STOP))

    [g] = asyncio.run(main())
    assert g.text.startswith("inside|")


def test_generate_from_worker_threads(server):
    p = policy(server)
    results = {}

    def work(i):
        results[i] = p.generate([convo(f"t{i}")], SamplingParams())[0].text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert {i: r.split("|")[0] for i, r in results.items()} == {0: "t0", 1: "t1", 2: "t2"}


def test_api_key_from_environment(monkeypatch, server):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert policy(server).api_key == "sk-test"
    monkeypatch.delenv("OPENAI_API_KEY")
    assert policy(server).api_key == "EMPTY"


def test_sync_weights_is_refused_and_bad_specs(server):
    with pytest.raises(UserError):
        policy(server).sync_weights(object())
    for spec in ("openai:m", "openai:@http://x", "nope:x"):
        with pytest.raises(UserError):
            make_policy(spec)
