"""Policy over any OpenAI-compatible endpoint (`vllm serve`, a hosted API).

Two request forms:

chat      `/v1/chat/completions` with the messages (any endpoint). A conversation ending with
          an assistant message is continued with vLLM's `continue_final_message` (other
          endpoints refuse it, and the turn then stays as it is). The API strips a matched
          stop string: it is appended again from vLLM's `stop_reason` when the server
          reports it, else when the text leaves the stop string's tag open (`</tool_call>`
          is appended to text with an unclosed `<tool_call>`). Log-probs on request.
tokens    when the caller passes `prompt_ids`: `/v1/completions` with the ids as the prompt
          (token in, token out, as vLLM serves it), asking vLLM for `return_token_ids`,
          `include_stop_str_in_output` and the sampled tokens' log-probs. The Generation
          carries the prompt ids the server used, the sampled ids and their log-probs; a
          server that returns no ids gets them read from `return_tokens_as_token_ids`
          log-prob tokens ("token_id:123"), else the request fails. This is how training
          talks to a `vllm serve` process: nothing is re-tokenised.

Requests run concurrently with `openai.AsyncOpenAI`, at most `max_concurrency` at a time, each
with a timeout; timeouts, connection errors, 429 and 5xx answers are retried with
exponential backoff (`backoff_s * 2**attempt`), other errors are not. A request that still
fails becomes a Generation with finish_reason "error". `generate` is synchronous and works
from any thread, with or without a running event loop (with one, the batch runs on a fresh
loop in a worker thread).

`probe()` asks for one token (`sandmle eval` calls it before any episode): a server that is
down, refuses the key or does not serve the model is one clear error, not a run of failed
episodes.
"""
from __future__ import annotations

import asyncio
import os
import threading
from dataclasses import replace
from typing import Any

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Message, SamplingParams

RETRY_STATUS = (408, 409, 429)


class OpenAIPolicy:
    def __init__(self, model: str, base_url: str, api_key: str | None = None, *,
                 max_concurrency: int = 32, timeout_s: float = 600.0, max_retries: int = 3,
                 backoff_s: float = 1.0, logprobs: bool = False, name: str | None = None) -> None:
        if max_concurrency < 1:
            raise UserError(f"max_concurrency must be >= 1, got {max_concurrency}")
        if max_retries < 0:
            raise UserError(f"max_retries must be >= 0, got {max_retries}")
        self.model = model
        self.base_url = base_url
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.max_concurrency = max_concurrency
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.logprobs = logprobs
        self.name = name or f"openai:{model}@{base_url}"

    def generate(self, conversations: list[list[Message]], sampling: SamplingParams,
                 prompt_ids: list[list[int]] | None = None) -> list[Generation]:
        if not conversations:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(conversations, sampling, prompt_ids))
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = asyncio.run(self.agenerate(conversations, sampling, prompt_ids))
            except BaseException as exc:   # re-raised in the calling thread
                box["error"] = exc

        thread = threading.Thread(target=target, name="openai-generate")
        thread.start()
        thread.join()
        if "error" in box:
            raise box["error"]
        return box["result"]

    async def agenerate(self, conversations: list[list[Message]], sampling: SamplingParams,
                        prompt_ids: list[list[int]] | None = None) -> list[Generation]:
        from openai import AsyncOpenAI

        semaphore = asyncio.Semaphore(self.max_concurrency)
        # A client per batch: its connection pool belongs to this event loop.
        async with AsyncOpenAI(base_url=self.base_url, api_key=self.api_key,
                               timeout=self.timeout_s, max_retries=0) as client:
            async def one(row: int, messages: list[Message]) -> Generation:
                # Row i gets seed + i: identical prompts in a batch (a GRPO group) must differ.
                seeded = replace(sampling, seed=sampling.seed_for(row), row_seeds=None)
                async with semaphore:
                    if prompt_ids is not None:
                        return await self._request(client, seeded, self._tokens_request(prompt_ids[row], seeded))
                    return await self._request(client, seeded, self._chat_request(messages, seeded))

            return list(await asyncio.gather(*(one(i, m) for i, m in enumerate(conversations))))

    def _common(self, sampling: SamplingParams) -> dict[str, Any]:
        kwargs: dict[str, Any] = dict(model=self.model, temperature=sampling.temperature,
                                      top_p=sampling.top_p, max_tokens=sampling.max_new_tokens)
        if sampling.stop:
            kwargs["stop"] = list(sampling.stop)
        if sampling.seed is not None:
            kwargs["seed"] = sampling.seed
        return kwargs

    def _chat_request(self, messages: list[Message], sampling: SamplingParams) -> dict[str, Any]:
        kwargs = dict(self._common(sampling), messages=messages)
        if self.logprobs:
            kwargs["logprobs"] = True
        if messages and messages[-1]["role"] == "assistant":     # continue the turn (vLLM)
            kwargs["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
        return kwargs

    def _tokens_request(self, ids: list[int], sampling: SamplingParams) -> dict[str, Any]:
        return dict(self._common(sampling), prompt=list(ids), logprobs=1,
                    extra_body={"return_token_ids": True, "return_tokens_as_token_ids": True,
                                "include_stop_str_in_output": True})

    async def _request(self, client: Any, sampling: SamplingParams, kwargs: dict[str, Any]) -> Generation:
        import openai

        tokens = "prompt" in kwargs
        error = "no attempt made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                if tokens:
                    response = await client.completions.create(**kwargs)
                    return _tokens_generation(response, kwargs["prompt"], sampling.stop)
                response = await client.chat.completions.create(**kwargs)
                return _to_generation(response, sampling.stop)
            except (openai.APITimeoutError, openai.APIConnectionError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            except openai.APIStatusError as exc:
                error = f"HTTP {exc.status_code}: {exc.message}"
                if exc.status_code < 500 and exc.status_code not in RETRY_STATUS:
                    break
        return Generation.failed(f"{error} (after {attempt + 1} attempts)".splitlines()[0])

    def probe(self, timeout_s: float = 30.0) -> None:
        """Ask the endpoint for one token before any episode; a UserError naming the URL and
        what answered (nothing, a refused key, an unknown model) when it cannot generate."""
        import openai

        client = openai.OpenAI(base_url=self.base_url, api_key=self.api_key, timeout=timeout_s, max_retries=1)
        try:
            client.chat.completions.create(model=self.model, max_tokens=1,
                                           messages=[{"role": "user", "content": "ping"}])
        except (openai.APITimeoutError, openai.APIConnectionError) as exc:
            cause = exc.__cause__ or exc
            raise UserError(f"policy {self.name}: nothing answers at {self.base_url} ({_first_line(cause)}): "
                            "start the server or fix the URL") from None
        except openai.APIStatusError as exc:
            raise UserError(f"policy {self.name}: the endpoint answered HTTP {exc.status_code} "
                            f"({_first_line(exc.message)}): check the model name, the URL and $OPENAI_API_KEY"
                            ) from None
        finally:
            client.close()

    def sync_weights(self, model: Any) -> None:
        raise UserError("an openai endpoint cannot take new weights: use the vllm backend "
                        "(vllm:MODEL, server mode) to train against a served model")

    def close(self) -> None:
        """Nothing is held between batches."""


def _first_line(value: Any) -> str:
    text = str(value).strip()
    return (text.splitlines() or [type(value).__name__])[0][:300]


def _restore_stop(text: str, stop_reason: Any, stop: tuple[str, ...]) -> tuple[str, str | None]:
    """The text with the stop string the API stripped, and that stop string (None: none)."""
    for s in stop:
        if text.endswith(s):
            return text, s
    if isinstance(stop_reason, str) and stop_reason in stop:
        return text + stop_reason, stop_reason
    if stop_reason is not None:      # vLLM names the reason: a stop token id, or none
        return text, None
    for s in stop:
        if s.startswith("</") and s.endswith(">"):
            opener = "<" + s[2:]
            if text.rfind(opener) > text.rfind(s):
                return text + s, s
    return text, None


def _to_generation(response: Any, stop: tuple[str, ...]) -> Generation:
    if not response.choices:
        return Generation.failed("the endpoint returned no choices")
    choice = response.choices[0]
    text = choice.message.content or ""
    reason = choice.finish_reason
    stop_string = None
    if reason == "stop":
        text, stop_string = _restore_stop(text, getattr(choice, "stop_reason", None), stop)
    logprobs = None
    if choice.logprobs is not None and choice.logprobs.content:
        logprobs = tuple(float(t.logprob) for t in choice.logprobs.content)
    return Generation(text=text, logprobs=logprobs, finish_reason="length" if reason == "length" else "stop",
                      stop_string=stop_string)


def _tokens_generation(response: Any, prompt: list[int], stop: tuple[str, ...]) -> Generation:
    """A completions answer to a token prompt, with vLLM's token ids and log-probs."""
    if not response.choices:
        return Generation.failed("the endpoint returned no choices")
    choice = response.choices[0]
    logprobs = getattr(choice, "logprobs", None)
    ids = getattr(choice, "token_ids", None)
    if ids is None and logprobs is not None and logprobs.tokens:
        if all(t.startswith("token_id:") for t in logprobs.tokens):
            ids = [int(t.removeprefix("token_id:")) for t in logprobs.tokens]
    if ids is None:
        return Generation.failed("the endpoint returned no token ids: token prompts need a vLLM server "
                                 "(return_token_ids)")
    values = None
    if logprobs is not None and logprobs.token_logprobs is not None and len(logprobs.token_logprobs) == len(ids):
        values = tuple(float(x) for x in logprobs.token_logprobs)
    seen = getattr(choice, "prompt_token_ids", None)
    reason = choice.finish_reason
    stop_reason = getattr(choice, "stop_reason", None)
    stop_string = stop_reason if reason == "stop" and isinstance(stop_reason, str) and stop_reason in stop else None
    return Generation(text=choice.text or "", token_ids=tuple(int(i) for i in ids), logprobs=values,
                      finish_reason="length" if reason == "length" else "stop",
                      prompt_ids=tuple(seen) if seen is not None else tuple(prompt), stop_string=stop_string)
