"""JSON answers of the language-model roles: extraction from model text, and a small validator.

`extract_json(text)` finds the one JSON object in a model's answer (a ```json fence, else the
outermost braces; a leading `<think>` block is dropped). `schema_problems(value, schema)`
checks it against a JSON-Schema subset (type, properties, required, additionalProperties,
enum, minimum, maximum, minLength, maxLength, pattern, items, minItems, maxItems) and returns
every problem as a short phrase naming its path, e.g. `$.train_rows: 20 is below minimum 50`.
The phrases go back to the model verbatim when an answer is rejected.

`STRATEGY_SCHEMA` and `GRADER_SCHEMA` are the Data Strategist's and MLOps Engineer's answers.
"""
from __future__ import annotations

import json
import re
from typing import Any

_THINK = re.compile(r"<think>.*?</think>", re.DOTALL)
_FENCE = re.compile(r"```([A-Za-z0-9_+-]*)[ \t]*\n(.*?)```", re.DOTALL)
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


class ParseError(ValueError):
    """A model answer that holds no usable JSON object or script; the message is one line."""


def strip_thinking(text: str) -> str:
    """The answer without `<think>` blocks (an unclosed one swallows everything before it ends)."""
    text = _THINK.sub("", text)
    if "<think>" in text:
        text = text.split("<think>", 1)[0]
    return text.strip()


def extract_json(text: str) -> Any:
    """The JSON object in a model answer; raises ParseError saying what was wrong."""
    body = strip_thinking(text)
    candidates = [block for lang, block in _FENCE.findall(body) if lang.lower() in ("json", "")]
    start, end = body.find("{"), body.rfind("}")
    if start >= 0 and end > start:
        candidates.append(body[start:end + 1])
    if not candidates:
        raise ParseError("the answer holds no JSON object")
    error = None
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = exc
            continue
        if isinstance(value, dict):
            return value
    if error is not None:
        raise ParseError(f"the answer's JSON does not parse: {error.msg} at line {error.lineno} column {error.colno}")
    raise ParseError("the answer's JSON is not an object")


def extract_code(text: str) -> str:
    """The Python script in a model answer: the longest ```python fence (or plain fence)."""
    body = strip_thinking(text)
    blocks = [block for lang, block in _FENCE.findall(body) if lang.lower() in ("python", "py", "python3", "")]
    if not blocks:
        if body.startswith(("import ", "from ", "#")):
            return body + "\n"
        raise ParseError("the answer holds no ```python code block")
    code = max(blocks, key=len).strip("\n") + "\n"
    if not code.strip():
        raise ParseError("the answer's code block is empty")
    return code


def _type_ok(value: Any, kind: str) -> bool:
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[kind])


def schema_problems(value: Any, schema: dict[str, Any], path: str = "$") -> list[str]:
    """Every way `value` departs from `schema` (the subset in the module doc)."""
    kinds = schema.get("type")
    if kinds is not None:
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        if not any(_type_ok(value, k) for k in kinds):
            return [f"{path}: expected {' or '.join(kinds)}, got {type(value).__name__}"]
    problems: list[str] = []
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if _type_ok(value, "number"):
        if "minimum" in schema and value < schema["minimum"]:
            problems.append(f"{path}: {value} is below minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            problems.append(f"{path}: {value} is above maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            problems.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            problems.append(f"{path}: longer than {schema['maxLength']} characters")
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            problems.append(f"{path}: {value!r} does not match {schema['pattern']}")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            problems.append(f"{path}: has {len(value)} items, needs at least {schema['minItems']}")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            problems.append(f"{path}: has {len(value)} items, at most {schema['maxItems']} allowed")
        if "items" in schema:
            for i, item in enumerate(value):
                problems += schema_problems(item, schema["items"], f"{path}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                problems.append(f"{path}: missing key {key!r}")
        if schema.get("additionalProperties", True) is False:
            extra = sorted(set(value) - set(properties))
            if extra:
                problems.append(f"{path}: unknown keys {extra}")
        for key, sub in properties.items():
            if key in value:
                problems += schema_problems(value[key], sub, f"{path}.{key}")
    return problems


NAME = {"type": "string", "pattern": r"[A-Za-z][A-Za-z0-9_]{0,39}"}
TEXT = {"type": "string", "minLength": 3, "maxLength": 600}
RATE = {"type": "number", "minimum": 0}

STRATEGY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["domain", "title", "entity", "id_column", "train_rows", "test_rows", "features",
                 "targets", "classes", "mutations", "hidden_rule"],
    "properties": {
        "domain": {"type": "string", "minLength": 3, "maxLength": 60},
        "title": {"type": "string", "minLength": 5, "maxLength": 120},
        "entity": {"type": "string", "minLength": 3, "maxLength": 80},
        "id_column": NAME,
        "train_rows": {"type": "integer", "minimum": 50, "maximum": 200},
        "test_rows": {"type": "integer", "minimum": 50, "maximum": 2000},
        "features": {
            "type": "array", "minItems": 1, "maxItems": 40,
            "items": {"type": "object", "additionalProperties": False,
                      "required": ["name", "type", "description"],
                      "properties": {"name": NAME,
                                     "type": {"enum": ["numeric", "categorical", "text", "datetime"]},
                                     "description": TEXT}},
        },
        "targets": {
            "type": "array", "minItems": 1, "maxItems": 12,
            "items": {"type": "object", "additionalProperties": False, "required": ["name", "description"],
                      "properties": {"name": NAME, "description": TEXT}},
        },
        "classes": {"type": "array", "maxItems": 20,
                    "items": {"type": "string", "pattern": r"[A-Za-z0-9][A-Za-z0-9_-]{0,29}"}},
        "mutations": {
            "type": "object", "additionalProperties": False,
            "properties": {"missing_rate": RATE, "outlier_rate": RATE, "label_noise": RATE,
                           "imbalance": RATE, "distractors": {"type": "integer", "minimum": 0},
                           "shift": RATE},
        },
        "hidden_rule": {
            "type": "object", "additionalProperties": False,
            "required": ["description", "formula", "informative_features", "noise"],
            "properties": {"description": TEXT,
                           "formula": {"type": "string", "minLength": 3, "maxLength": 800},
                           "informative_features": {"type": "array", "minItems": 1, "items": NAME},
                           "noise": {"type": "string", "minLength": 3, "maxLength": 300}},
        },
    },
}

GRADER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["metric", "id_column", "target_columns", "classes", "metric_params"],
    "properties": {
        "metric": {"type": "string"},
        "id_column": {"type": "string", "minLength": 1},
        "target_columns": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
        "classes": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "metric_params": {"type": "object"},
    },
}
