"""Policy mixtures: one run whose episodes come from several policies in chosen shares.

    parse_mix("scripted:weak:short=0.25,scripted:strong:short=0.75")
        -> (("scripted:weak:short", 0.25), ("scripted:strong:short", 0.75))
    assign_members(shares, num_tasks, episodes_per_task) -> member index of each planned episode

A teacher dataset for SFT holds weak, medium and strong trajectories in chosen shares
(`sandmle eval --mix`). Counts follow the shares exactly over the whole plan (largest
remainder), and the members are interleaved by smooth weighted round robin along the
task-major plan, so each task's episodes hold the shares as closely as its count allows
(8 episodes at 0.25/0.25/0.5 give every task 2, 2 and 4). The assignment depends only on the
shares and the plan's shape: a resumed run assigns as the first one did.
"""
from __future__ import annotations

import math

from sandmle.errors import UserError


def is_mix(spec: str) -> bool:
    """Whether a policy spec is a mixture (`SPEC=SHARE,...`) rather than one policy."""
    _, sep, share = spec.split(",")[-1].rpartition("=")
    try:
        float(share)
    except ValueError:
        return False
    return bool(sep)


def parse_mix(text: str) -> tuple[tuple[str, float], ...]:
    """`SPEC=SHARE,SPEC=SHARE,...` -> ((spec, share normalised to sum 1), ...)."""
    members = []
    for part in text.split(","):
        spec, sep, share = part.strip().rpartition("=")
        if not sep or not spec:
            raise UserError(f"--mix {text!r}: write SPEC=SHARE,SPEC=SHARE, e.g. "
                            "scripted:weak:short=0.25,scripted:strong:short=0.75")
        try:
            value = float(share)
        except ValueError:
            raise UserError(f"--mix: the share of {spec!r} must be a number, got {share!r}") from None
        if not math.isfinite(value) or value <= 0:
            raise UserError(f"--mix: the share of {spec!r} must be > 0, got {share}")
        members.append((spec.strip(), value))
    specs = [spec for spec, _ in members]
    repeated = sorted({spec for spec in specs if specs.count(spec) > 1})
    if repeated:
        raise UserError(f"--mix names {', '.join(repeated)} more than once")
    total = sum(share for _, share in members)
    return tuple((spec, share / total) for spec, share in members)


def member_counts(shares: list[float], total: int) -> list[int]:
    """Integers summing to `total` in the given shares (largest remainder; ties to the first)."""
    raw = [share * total for share in shares]
    counts = [math.floor(x) for x in raw]
    order = sorted(range(len(shares)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts


def assign_members(shares: list[float], num_tasks: int, episodes_per_task: int) -> list[int]:
    """The member (index into `shares`) of each planned episode, task-major order."""
    counts = member_counts(shares, num_tasks * episodes_per_task)
    total = sum(counts)
    current = [0] * len(counts)
    out = []
    for _ in range(total):          # one cycle of smooth weighted round robin: exact counts
        current = [c + w for c, w in zip(current, counts)]
        pick = max(range(len(counts)), key=lambda i: (current[i], -i))
        current[pick] -= total
        out.append(pick)
    return out


def shared_tokenizer(policies: list) -> object | None:
    """The one tokenizer a mixture's members share (None when none has one); UserError when
    members tokenise differently: a run records one token context per episode."""
    found = None
    for policy in policies:
        tok = getattr(policy, "tokenizer", None)
        if tok is None:
            continue
        if found is None:
            found = tok
        elif tok is not found and (tok.get_vocab() != found.get_vocab()
                                   or getattr(tok, "chat_template", None) != getattr(found, "chat_template", None)):
            raise UserError("--mix: the policies use different tokenizers or chat templates; mix policies "
                            "that share one (or run them as separate evaluations)")
    return found
