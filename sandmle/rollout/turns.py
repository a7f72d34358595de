"""One turn of many episodes: a batched policy call, resumed where a stop string cut an action.

Generation stops at the protocol's closing tags (`</tool_call>`, `</answer>`), which code may
also contain (`print("</tool_call>")`, a regex, a comment). A generation that a stop string
ended while its action is unfinished (`protocol.unfinished`) is resumed: the policy continues
the same turn from the prompt and the ids sampled so far (token backends), or from the
partial assistant message (text backends), with what is left of `max_new_tokens`, at most
`MAX_RESUMES` times. A turn that cannot resume (the budget is spent, the backend failed or
cannot continue a message) stays as it is, and the parser reads it as a format error that
says why, never as an answer.

A policy call that raises, or returns the wrong number of generations, becomes an error
Generation for each of its conversations.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sandmle.policies.base import Generation, Policy, SamplingParams
from sandmle.rollout.protocol import unfinished

MAX_RESUMES = 4
RESUME_SEED_STRIDE = 7_919       # a resumed call must not replay the first call's random stream

Message = dict[str, str]


@dataclass(frozen=True)
class TurnRequest:
    """What one episode shows the policy this turn."""

    messages: list[Message]
    prompt_ids: list[int] | None = None     # exact prompt ids, when the rollout has a tokenizer
    prefill: str = ""                       # text the generation prompt opened the turn with


def generate_turns(policy: Policy, requests: list[TurnRequest], sampling: SamplingParams) -> list[Generation]:
    """One Generation per request, each ended by a complete action, the end-of-turn token,
    the token budget or an error."""
    ids = [r.prompt_ids for r in requests]
    generations = _generate(policy, [r.messages for r in requests], sampling,
                            ids if all(p is not None for p in ids) else None)
    stuck: set[int] = set()             # a resume failed: the turn stays as it is
    for round_ in range(1, MAX_RESUMES + 1):
        pending = [i for i, (r, g) in enumerate(zip(requests, generations))
                   if i not in stuck and _resumable(r, g, sampling)]
        by_budget: dict[int, list[int]] = {}
        for i in pending:
            used = len(generations[i].token_ids) if generations[i].token_ids is not None else 0
            by_budget.setdefault(sampling.max_new_tokens - used, []).append(i)
        for budget, rows in by_budget.items():
            seed = None if sampling.seed is None else sampling.seed + RESUME_SEED_STRIDE * round_
            row_seeds = None
            if sampling.row_seeds is not None:     # each episode keeps its own stream
                row_seeds = tuple(sampling.row_seeds[i] + RESUME_SEED_STRIDE * round_ for i in rows)
            convs = [requests[i].messages + [{"role": "assistant", "content": requests[i].prefill + generations[i].text}]
                     for i in rows]
            prompts = None
            if all(generations[i].token_ids is not None and generations[i].prompt_ids is not None for i in rows):
                prompts = [list(generations[i].prompt_ids) + list(generations[i].token_ids) for i in rows]
            more = _generate(policy, convs, replace(sampling, max_new_tokens=budget, seed=seed, row_seeds=row_seeds),
                             prompts)
            for i, extra in zip(rows, more):
                if extra.finish_reason == "error":
                    stuck.add(i)
                else:
                    generations[i] = generations[i].then(extra)
    return generations


def _resumable(request: TurnRequest, generation: Generation, sampling: SamplingParams) -> bool:
    """Ended by a stop string inside an unfinished action, with token budget left."""
    if generation.finish_reason != "stop" or generation.stop_string is None:
        return False
    if generation.token_ids is not None and len(generation.token_ids) >= sampling.max_new_tokens:
        return False
    return unfinished(request.prefill + generation.text) is not None


def _generate(policy: Policy, conversations: list[list[Message]], sampling: SamplingParams,
              prompt_ids: list[list[int]] | None) -> list[Generation]:
    """policy.generate, with a crash or a wrong count turned into per-conversation errors."""
    try:
        if prompt_ids is None:
            generations = list(policy.generate(conversations, sampling))
        else:
            generations = list(policy.generate(conversations, sampling, prompt_ids=prompt_ids))
    except Exception as exc:
        message = f"{type(exc).__name__}: {exc}".splitlines()[0]
        return [Generation.failed(message) for _ in conversations]
    if len(generations) != len(conversations):
        message = f"policy returned {len(generations)} generations for {len(conversations)} conversations"
        return [Generation.failed(message) for _ in conversations]
    return generations
