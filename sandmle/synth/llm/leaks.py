"""Leak checks for a model-written description.md: the hidden rule and the answers stay private.

`description_leaks(text, rule, answers)` returns every leak found as a one-line reason (an
empty list means the description may be published):

- rule wording: six consecutive words of the hidden rule's description or formula;
- formula fragments: three consecutive formula tokens holding an operator and a name or
  number (`0.8 * dwell_time`), or any decimal coefficient of the formula (`1.75`);
- causal claims: a sentence naming an informative feature together with a causal or
  importance phrase ("determines", "drives", "depends on", "most predictive", ...);
- answers: a test id (unless it is a number of under five digits, which prose uses too) or
  a distinctive answer value (a decimal with at least four significant digits). Class names
  are public (they head the submission columns), so label answers are not searched for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_WORD = re.compile(r"[a-z0-9]+(?:[._'][a-z0-9]+)*")
_TOKEN = re.compile(r"\d+\.\d+|\d+|[A-Za-z_][A-Za-z0-9_]*|\*\*|[-+*/^()=<>]")
_OPERATORS = {"*", "/", "+", "-", "^", "**", "=", "<", ">"}
_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?![\w.])")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_CAUSAL = re.compile(
    r"\b(determin\w*|driv(?:e|es|en|ing)|depends? on|dependent on|function of|computed from|"
    r"calculated from|derived from|caus\w*|predictive|most important|key (?:driver|factor|predictor)|"
    r"strongest|influenc\w*|governs?|increases? the (?:chance|risk|probability|likelihood)|"
    r"raises? the|lowers? the|correlat\w*|signal)\b", re.IGNORECASE)
RULE_SHINGLE_WORDS = 6
TRIVIAL_DECIMALS = {"0.0", "0.5", "1.0", "0.00", "0.50", "1.00"}


@dataclass(frozen=True)
class HiddenRule:
    description: str
    formula: str
    informative_features: tuple[str, ...]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("_", " "))


def _shingles(words: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(words[i:i + n]) for i in range(len(words) - n + 1)}


def _rule_wording(text: str, rule: HiddenRule) -> list[str]:
    body = _shingles(_words(text), RULE_SHINGLE_WORDS)
    for source in (rule.description, rule.formula):
        for shingle in _shingles(_words(source), RULE_SHINGLE_WORDS):
            if shingle in body:
                return [f"repeats the hidden rule's wording: {' '.join(shingle)!r}"]
    return []


def _formula_fragments(text: str, rule: HiddenRule) -> list[str]:
    problems = []
    norm = [t.lower() for t in _TOKEN.findall(text)]
    body = {tuple(norm[i:i + 3]) for i in range(len(norm) - 2)}
    tokens = [t.lower() for t in _TOKEN.findall(rule.formula)]
    for i in range(len(tokens) - 2):
        gram = tuple(tokens[i:i + 3])
        if any(t in _OPERATORS for t in gram) and any(t not in _OPERATORS and t not in "()" for t in gram):
            if gram in body:
                problems.append(f"quotes the hidden formula: {' '.join(gram)!r}")
                break
    coefficients = {c for c in _DECIMAL.findall(rule.formula) if c.lstrip("-") not in TRIVIAL_DECIMALS}
    shown = {c.lstrip("-") for c in _DECIMAL.findall(text)}
    leaked = sorted(c for c in coefficients if c.lstrip("-") in shown)
    if leaked:
        problems.append(f"states the hidden rule's coefficient(s) {', '.join(leaked[:3])}")
    return problems


def _causal_claims(text: str, rule: HiddenRule) -> list[str]:
    names = {f: re.compile(r"\b" + re.escape(f.lower()).replace("_", "[ _]") + r"\b") for f in rule.informative_features}
    for sentence in _SENTENCE.split(text):
        lowered = sentence.lower()
        claim = _CAUSAL.search(sentence)
        if not claim:
            continue
        for feature, pattern in names.items():
            if pattern.search(lowered):
                return [f"describes informative feature {feature!r} as causal ({claim.group(0)!r}): "
                        f"{sentence.strip()[:120]!r}"]
    return []


def _distinctive_number(cell: str) -> bool:
    digits = cell.lstrip("-").replace(".", "")
    return "." in cell and len(digits.strip("0")) >= 4


def _answer_leaks(text: str, test_ids: list[str], answer_values: list[str]) -> list[str]:
    tokens = set(re.findall(r"[A-Za-z0-9_.\-]+", text))
    tokens |= {t.rstrip(".") for t in tokens}
    for test_id in test_ids:
        distinctive = not test_id.isdigit() or len(test_id) >= 5
        if distinctive and len(test_id) >= 3 and test_id in tokens:
            return [f"names test id {test_id!r}"]
    for value in answer_values:
        if _distinctive_number(value) and value in tokens:
            return [f"states hidden answer value {value!r}"]
    return []


def description_leaks(text: str, rule: HiddenRule, test_ids: list[str], answer_values: list[str]) -> list[str]:
    """Every leak of the hidden rule or the answers in a description (see the module doc)."""
    return (_rule_wording(text, rule) + _formula_fragments(text, rule) + _causal_claims(text, rule)
            + _answer_leaks(text, test_ids, answer_values))
