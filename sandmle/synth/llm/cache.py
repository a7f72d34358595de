"""A caching, logging layer over any policy backend, so language-model synthesis replays offline.

    llm = CachedPolicy("openai:qwen@http://localhost:8000/v1", cache_dir=Path("llm-cache"),
                       log_path=Path("bank/_llm_calls.jsonl"))
    [generation] = llm.generate([messages], SamplingParams(...), tag="strategist:seed#0")

A request's key is the SHA-256 of (model, messages, sampling); the endpoint URL is not part
of it, so a cache made against one server replays against another or none. Answers that
finished ("stop" or "length") are stored as `CACHE/<key[:2]>/<key>.json`, written atomically;
failed requests are never cached. The backend is built from its spec on the first cache
miss only, so a fully cached run opens no connection. With `offline=True` a miss is a failed
Generation instead of a request. Every call, hit or miss, is one line of the JSONL log:
key, tag, model, cached, wall_s, finish_reason, error, messages, sampling and text.
"""
from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable

from sandmle.files import atomic_file
from sandmle.policies.base import Generation, Message, Policy, SamplingParams

CACHE_FORMAT = 1


def model_of(spec: str) -> str:
    """The model a policy spec names, without where it is served ("openai:qwen@URL" -> "openai:qwen")."""
    kind, _, rest = spec.partition(":")
    if kind == "openai":
        return f"openai:{rest.rpartition('@')[0] or rest}"
    return spec


def request_key(model: str, messages: list[Message], sampling: SamplingParams) -> str:
    payload = {"format": CACHE_FORMAT, "model": model, "messages": messages, "sampling": _sampling_json(sampling)}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def _sampling_json(sampling: SamplingParams) -> dict[str, Any]:
    data = asdict(sampling)
    data["stop"] = list(sampling.stop)
    return data


class CachedPolicy:
    """A Policy whose answers are cached on disk and whose calls are logged (see module doc)."""

    def __init__(self, spec: str, cache_dir: Path, log_path: Path | None = None, *, offline: bool = False,
                 factory: Callable[[str], Policy] | None = None) -> None:
        self.spec = spec
        self.model = model_of(spec)
        self.name = f"cached:{self.model}"
        self.cache_dir = Path(cache_dir)
        self.log_path = Path(log_path) if log_path is not None else None
        self.offline = offline
        self._factory = factory
        self._policy: Policy | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0          # requests sent to the backend

    # ---- cache -----------------------------------------------------------------------------
    def _path(self, key: str) -> Path:
        return self.cache_dir / key[:2] / f"{key}.json"

    def lookup(self, messages: list[Message], sampling: SamplingParams) -> Generation | None:
        """The cached answer to a request, or None (never calls the backend)."""
        path = self._path(request_key(self.model, messages, sampling))
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Generation(text=data["text"], finish_reason=data["finish_reason"])

    def _store(self, key: str, messages: list[Message], sampling: SamplingParams, generation: Generation) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"format": CACHE_FORMAT, "key": key, "model": self.model, "messages": messages,
                  "sampling": _sampling_json(sampling), "text": generation.text,
                  "finish_reason": generation.finish_reason}
        with atomic_file(path) as fh:
            json.dump(record, fh, ensure_ascii=False)

    def _backend(self) -> Policy:
        with self._lock:
            if self._policy is None:
                if self._factory is not None:
                    self._policy = self._factory(self.spec)
                else:
                    from sandmle.policies import make_policy

                    self._policy = make_policy(self.spec)
            return self._policy

    # ---- Policy ----------------------------------------------------------------------------
    def generate(self, conversations: list[list[Message]], sampling: SamplingParams,
                 tag: str = "") -> list[Generation]:
        keys = [request_key(self.model, m, sampling) for m in conversations]
        results: list[Generation | None] = [self.lookup(m, sampling) for m in conversations]
        missing = [i for i, r in enumerate(results) if r is None]
        start = time.perf_counter()
        if missing and not self.offline:
            answers = self._backend().generate([conversations[i] for i in missing], sampling)
            for i, generation in zip(missing, answers):
                results[i] = generation
                if generation.finish_reason != "error":
                    self._store(keys[i], conversations[i], sampling, generation)
        elif missing:
            for i in missing:
                results[i] = Generation.failed("not in the cache and the run is offline")
        wall_s = time.perf_counter() - start
        with self._lock:
            self.hits += len(conversations) - len(missing)
            self.misses += 0 if self.offline else len(missing)
        missed = set(missing)
        for i, (messages, generation) in enumerate(zip(conversations, results)):
            self._log({"ts": round(time.time(), 3), "key": keys[i], "tag": tag, "model": self.model,
                       "cached": i not in missed, "wall_s": round(wall_s, 3) if i in missed else 0.0,
                       "finish_reason": generation.finish_reason, "error": generation.error,
                       "sampling": _sampling_json(sampling), "messages": messages, "text": generation.text})
        return results

    def _log(self, record: dict[str, Any]) -> None:
        if self.log_path is None:
            return
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.log_path, "a", encoding="utf-8") as fh:
                fh.write(line)

    def sync_weights(self, model: Any) -> None:
        raise ValueError("a cached synthesis policy takes no weights")

    def close(self) -> None:
        if self._policy is not None:
            self._policy.close()
