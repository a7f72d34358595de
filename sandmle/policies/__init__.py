"""Policy backends behind one small interface (`sandmle.policies.base.Policy`).

Spec strings for `make_policy` (and `sandmle eval --policy`):

    scripted[:weak|medium|strong][:short]
                                    no model: inspects the data, submits a reference solution
                                    (short: a seventeen-line solution straight from the task card)
    openai:MODEL@URL                any OpenAI-compatible endpoint (`vllm serve`, ...);
                                    key from $OPENAI_API_KEY, else "EMPTY"
    hf:PATH_OR_DIR                  transformers generation from a local model folder
    vllm:MODEL                      in-process vLLM engine (`sandmle.policies.vllm.VLLMPolicy`)

Backends are imported only when asked for, so `scripted` needs neither torch nor openai.
"""
from __future__ import annotations

from typing import Any

from sandmle.errors import UserError
from sandmle.policies.base import Generation, Policy, SamplingParams, cut_at_stop

__all__ = ["Generation", "Policy", "SamplingParams", "cut_at_stop", "make_policy"]

SPEC_FORMS = "scripted[:STRENGTH][:short], openai:MODEL@URL, hf:PATH_OR_DIR, vllm:MODEL"


def make_policy(spec: str, **kw: Any) -> Policy:
    """Build the policy a spec string names; keyword arguments go to the backend."""
    kind, _, rest = spec.partition(":")
    if kind == "scripted":
        from sandmle.policies.scripted import ScriptedPolicy

        strength, _, style = rest.partition(":")
        return ScriptedPolicy(strength=strength or "strong", style=style or "reference", **kw)
    if kind == "openai":
        model, sep, url = rest.rpartition("@")
        if not sep or not model or not url:
            raise UserError(f"policy {spec!r}: write openai:MODEL@URL, e.g. openai:qwen@http://localhost:8000/v1")
        from sandmle.policies.openai_api import OpenAIPolicy

        return OpenAIPolicy(model=model, base_url=url, **kw)
    if kind == "hf":
        if not rest:
            raise UserError(f"policy {spec!r}: write hf:PATH_OR_DIR")
        from sandmle.policies.hf import HFPolicy

        return HFPolicy(rest, **kw)
    if kind == "vllm":
        if not rest:
            raise UserError(f"policy {spec!r}: write vllm:MODEL")
        from sandmle.policies.vllm import VLLMPolicy

        return VLLMPolicy(rest, **kw)
    raise UserError(f"unknown policy {spec!r} (forms: {SPEC_FORMS})")
