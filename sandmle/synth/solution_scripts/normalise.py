"""Reference solution for token normalisation: written tokens in ./input/test.csv -> spoken forms.

Runs in the sandbox after its settings line, `CFG = {...}` (`sandmle.synth.solutions`):
`memory` learns a lookup table from train.csv (`min_count`, `lower_key`), `rules` names the
token classes spoken by rule (`sandmle.synth.generators.numbers`, inlined into the script
so generator and solutions follow one convention), `year_mode` how a year-like number is
read (always a year, never, or by the previous word as learnt from train.csv), `digits`,
`hundred_and` and `lowercase` are deliberate variants. Writes ./submission.csv (id, after).
"""
import re
from collections import Counter, defaultdict

import pandas as pd

from sandmle.synth.generators.numbers import cardinal, spoken

CFG: dict = globals().get("CFG", {})   # the settings line `CFG = {...}` binds them first
PATTERNS = [
    ("DATE", re.compile(r"^\d{1,2}\.\d{2}\.\d{4}$")),
    ("TIME", re.compile(r"^\d{1,2}:\d{2}$")),
    ("MONEY", re.compile(r"^[$€]\d+$")),
    ("MEASURE", re.compile(r"^\d+(kg|km|m|g|%)$")),
    ("ORDINAL", re.compile(r"^\d+(st|nd|rd|th|-й)$")),
    ("CARDINAL", re.compile(r"^\d+$")),
    ("LETTERS", re.compile(r"^[A-ZА-ЯЁ]{2,}$")),
]


def guess_class(token):
    for name, pattern in PATTERNS:
        if pattern.match(token):
            return name
    return "PLAIN"


def main():
    train = pd.read_csv("input/train.csv", keep_default_na=False, dtype=str)
    test = pd.read_csv("input/test.csv", keep_default_na=False, dtype=str)
    lang = CFG["lang"]
    key = (lambda t: t.lower()) if CFG["lower_key"] else (lambda t: t)
    memory = {}
    if CFG["memory"]:
        seen = defaultdict(Counter)
        for before, after in zip(train["before"], train["after"]):
            seen[key(before)][after] += 1
        memory = {b: c.most_common(1)[0][0] for b, c in seen.items() if sum(c.values()) >= CFG["min_count"]}
    year_by_prev = {}
    if CFG["year_mode"] == "context":
        votes = defaultdict(Counter)
        prev = train.groupby("sentence_id")["before"].shift(1).fillna("")
        for token, cls, p in zip(train["before"], train["class"], prev):
            if token.isdigit() and 1900 <= int(token) <= 2030:
                votes[p.lower()][cls] += 1
        year_by_prev = {p: c.most_common(1)[0][0] for p, c in votes.items()}
    prev_tokens = test.groupby("sentence_id")["before"].shift(1).fillna("")
    out = []
    for token, p in zip(test["before"], prev_tokens):
        cls = guess_class(token)
        if cls == "CARDINAL" and 1900 <= int(token) <= 2030:
            mode = CFG["year_mode"]
            if mode == "date" or (mode == "context" and year_by_prev.get(p.lower(), "CARDINAL") == "DATE"):
                cls = "YEAR"
        rule_name = "CARDINAL" if cls == "YEAR" else cls
        if rule_name in CFG["rules"]:
            if CFG["digits"] and cls in ("CARDINAL", "YEAR"):
                text = " ".join(cardinal(int(d), lang) for d in token)
            else:
                text = spoken(token, cls, lang)
            if CFG["hundred_and"]:
                text = text.replace(" hundred ", " hundred and ")
        elif key(token) in memory:
            text = memory[key(token)]
        else:
            text = token.lower() if CFG["lowercase"] else token
        out.append(text)
    pd.DataFrame({"id": test["id"], "after": out}).to_csv("submission.csv", index=False)


if __name__ == "__main__":
    main()
