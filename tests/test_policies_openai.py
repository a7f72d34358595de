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


class JSONHandler(BaseHTTPRequestHandler):
    """Reads a JSON body, answers JSON; quiet."""

    def log_message(self, *args):
        pass

    def body(self):
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, status, payload):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve(handler):
    """Serve `handler` on a loopback port in a daemon thread: (server, base URL)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}/v1"


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

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.body()
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

        self.httpd, self.url = serve(Handler)

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


# -- token prompts against a server speaking vLLM's completions protocol -------------------------
class VLLMCompletions:
    """`/v1/completions` as `vllm serve` answers a token prompt, generated by a tiny transformers
    model: `prompt` as ids, `return_token_ids` (choice.token_ids, choice.prompt_token_ids),
    `return_tokens_as_token_ids` ("token_id:N" log-prob tokens), `include_stop_str_in_output`,
    `logprobs` (token_logprobs, top_logprobs, text_offset), `stop_reason`. With
    `token_ids=False` it acts as a vLLM without `return_token_ids`. Also records chat requests."""

    def __init__(self, model_dir, token_ids=True):
        from sandmle.policies.hf import HFPolicy

        self.hf = HFPolicy(model_dir)
        self.token_ids = token_ids
        self.requests: list[dict] = []
        server = self

        class Handler(JSONHandler):
            def do_POST(self):
                body = self.body()
                server.requests.append(body)
                if self.path.endswith("/chat/completions"):
                    return self.reply(200, {"id": "c", "object": "chat.completion", "created": 0,
                                            "model": body["model"],
                                            "choices": [{"index": 0, "finish_reason": "length",
                                                         "message": {"role": "assistant", "content": "more"}}]})
                self.reply(200, server.complete(body))

        self.httpd, self.url = serve(Handler)

    def complete(self, body):
        tok = self.hf.tokenizer
        sampling = SamplingParams(temperature=body["temperature"], top_p=body["top_p"], max_new_tokens=body["max_tokens"],
                                  stop=tuple(body.get("stop") or ()), seed=body.get("seed"))
        [g] = self.hf.generate([[]], sampling, prompt_ids=[body["prompt"]])
        text = g.text if body.get("include_stop_str_in_output") or not g.stop_string else g.text[:-len(g.stop_string)]
        pieces = [f"token_id:{i}" if body.get("return_tokens_as_token_ids") else tok.decode([i]) for i in g.token_ids]
        choice = {"index": 0, "text": text, "finish_reason": g.finish_reason, "stop_reason": g.stop_string,
                  "logprobs": {"tokens": pieces, "token_logprobs": list(g.logprobs),
                               "top_logprobs": [{p: lp} for p, lp in zip(pieces, g.logprobs)],
                               "text_offset": [0] * len(pieces)}}
        if self.token_ids and body.get("return_token_ids"):
            choice.update(token_ids=list(g.token_ids), prompt_token_ids=list(body["prompt"]))
        return {"id": "cmpl-1", "object": "text_completion", "created": 0, "model": body["model"],
                "choices": [choice], "usage": {"prompt_tokens": len(body["prompt"]),
                                               "completion_tokens": len(g.token_ids),
                                               "total_tokens": len(body["prompt"]) + len(g.token_ids)}}

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    from sandmle.policies.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-openai"), seed=0)


@pytest.mark.parametrize("token_ids", [True, False])
def test_token_prompts_get_the_servers_ids_and_logprobs(tiny_dir, token_ids):
    vllm = VLLMCompletions(tiny_dir, token_ids=token_ids)
    try:
        tok = vllm.hf.tokenizer
        ids = tok.apply_chat_template(convo("x"), add_generation_prompt=True, tokenize=False)
        ids = tok(ids, add_special_tokens=False)["input_ids"]
        sampling = SamplingParams(temperature=1.0, max_new_tokens=12, seed=5, stop=STOP)
        [g] = OpenAIPolicy("m", vllm.url, backoff_s=0.01).generate([convo("x")], sampling, prompt_ids=[ids])
        [direct] = vllm.hf.generate([[]], sampling, prompt_ids=[ids])
    finally:
        vllm.close()
    [req] = vllm.requests
    assert req["prompt"] == ids and req["return_token_ids"] and req["include_stop_str_in_output"]
    assert g.prompt_ids == tuple(ids) and g.token_ids == direct.token_ids
    assert g.logprobs == direct.logprobs and g.text == direct.text and g.stop_string == direct.stop_string


def test_a_chat_turn_ending_with_an_assistant_message_is_continued(tiny_dir):
    vllm = VLLMCompletions(tiny_dir)
    try:
        partial = convo("x") + [{"role": "assistant", "content": '<tool_call>{"name": "python"}<code>\nprint("'}]
        [g] = OpenAIPolicy("m", vllm.url, backoff_s=0.01).generate([partial], SamplingParams(stop=STOP))
    finally:
        vllm.close()
    [req] = vllm.requests
    assert req["continue_final_message"] is True and req["add_generation_prompt"] is False
    assert req["messages"] == partial and g.text == "more"


def test_stop_reason_names_the_stop_string(server):
    [g, eos] = policy(server).generate([convo("vllm"), convo("long")], SamplingParams(stop=STOP))
    assert g.stop_string == "</answer>" and eos.stop_string is None
