"""Token-sequence normalisation: written tokens -> spoken form (text-normalization seeds).

Sentences mix plain words with numbers, ordinals, years, dates, times, amounts, measures,
letter abbreviations and punctuation. The hidden rule is the spoken-form convention
(`numbers.spoken`) plus what no model can see: a four-digit number in 1900-2030 is a year
or a plain number by its (hidden) class, and the cue word before it ("in", "since"; "в",
"с") only usually agrees; and annotators sometimes write a variant form. The oracle knows
every class and writes the standard form.
"""
from __future__ import annotations

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.domains import GENERIC_WORDS
from sandmle.synth.generators.common import ColumnDoc, GeneratedData
from sandmle.synth.generators.numbers import spoken

RU_WORDS = tuple(
    "и в не на я он с что а по это она как к но они мы из у за от же так для вы все его то бы "
    "дом город работа день время год человек рука дело жизнь вопрос сторона страна мир случай "
    "голова ребенок сила конец вид система часть место лицо друг глаз слово отдел завод поле".split())
CUES = {"en": ("in", "since", "from", "until"), "ru": ("в", "с", "до", "после")}
LETTER_WORDS = {"en": ("USA", "UK", "EU", "BBC", "CPU", "GPS", "DNA", "PDF", "TV", "FAQ", "HR", "AI", "UN", "IBM"),
                "ru": ("США", "РФ", "МГУ", "СССР", "ООН", "ВВП", "ГОСТ", "МВД", "ЦБ", "ТВ")}
CLASS_NAMES = ("PLAIN", "PUNCT", "CARDINAL", "ORDINAL", "DATE", "TIME", "MONEY", "MEASURE", "LETTERS")
_KINDS = ("CARDINAL", "ORDINAL", "YEAR", "DATE", "TIME", "MONEY", "MEASURE", "LETTERS")


def _special(kind: str, lang: str, rng: np.random.Generator) -> str:
    if kind == "CARDINAL":
        if rng.random() < 0.2:
            return str(int(rng.integers(1900, 2031)))
        return str(int(rng.choice([rng.integers(0, 20), rng.integers(20, 1000), rng.integers(1000, 10000)],
                                  p=[0.4, 0.4, 0.2])))
    if kind == "ORDINAL":
        n = int(rng.integers(1, 100))
        if lang == "ru":
            return f"{n}-й"
        suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
        return f"{n}{suffix}"
    if kind == "YEAR":
        return str(int(rng.integers(1900, 2031)))
    if kind == "DATE":
        return f"{int(rng.integers(1, 29)):02d}.{int(rng.integers(1, 13)):02d}.{int(rng.integers(1950, 2030))}"
    if kind == "TIME":
        return f"{int(rng.integers(0, 24))}:{int(rng.choice([0, 5, 15, 30, 45, int(rng.integers(1, 60))])):02d}"
    if kind == "MONEY":
        return f"{'$€'[int(rng.integers(2))]}{int(rng.integers(1, 500))}"
    if kind == "MEASURE":
        return f"{int(rng.integers(1, 200))}{('kg', 'km', 'm', 'g', '%')[int(rng.integers(5))]}"
    words = LETTER_WORDS[lang]
    return words[int(rng.integers(len(words)))]


def _variant(token: str, cls: str, standard: str, lang: str) -> str:
    """An annotator's variant of the standard form (irreducible noise)."""
    if lang == "en" and cls == "CARDINAL" and " hundred " in standard:
        return standard.replace(" hundred ", " hundred and ", 1)
    if lang == "ru" and cls == "TIME" and not standard.endswith("часов"):
        return f"{standard} минут"
    if cls == "MONEY" and lang == "en":
        return standard.replace("dollars", "bucks")
    return standard


def generate_sequence(dna: TaskDNA, bp: Blueprint, rng: np.random.Generator) -> GeneratedData:
    lang = dna.language
    plain = list(RU_WORDS) if lang == "ru" else [w for w in bp.domain.words if w.isalpha()] + list(GENERIC_WORDS)
    cues = CUES[lang]
    rows = {k: [] for k in ("id", "sentence_id", "token_id", "class", "before", "after", "oracle", "split")}
    weights = np.array([0.3, 0.1, 0.15, 0.1, 0.1, 0.08, 0.09, 0.08])
    for sentence in range(bp.train_rows + bp.test_rows):
        split = "train" if sentence < bp.train_rows else "test"
        tokens: list[tuple[str, str]] = []     # (token, internal class)
        for _ in range(int(rng.integers(5, 13))):
            if rng.random() < 0.3:
                kind = _KINDS[int(rng.choice(len(_KINDS), p=weights / weights.sum()))]
                token = _special(kind, lang, rng)
                is_year_like = token.isdigit() and 1900 <= int(token) <= 2030
                if is_year_like and rng.random() < (0.85 if kind == "YEAR" else 0.1):
                    tokens.append((cues[int(rng.integers(len(cues)))], "PLAIN"))
                tokens.append((token, kind))
            else:
                word = plain[int(rng.integers(len(plain)))]
                tokens.append((word.capitalize() if not tokens else word, "PLAIN"))
            if rng.random() < 0.08:
                tokens.append((",", "PUNCT"))
        tokens.append(("." if rng.random() < 0.8 else "?", "PUNCT"))
        for position, (token, kind) in enumerate(tokens):
            standard = spoken(token, kind, lang)
            after = _variant(token, kind, standard, lang) if rng.random() < 0.1 else standard
            rows["id"].append(f"{sentence}_{position}")
            rows["sentence_id"].append(str(sentence))
            rows["token_id"].append(str(position))
            rows["class"].append("DATE" if kind == "YEAR" else kind)
            rows["before"].append(token)
            rows["after"].append(after)
            rows["oracle"].append(standard)
            rows["split"].append(split)
    is_train = np.array([s == "train" for s in rows["split"]])
    noisy = (rng.random(len(is_train)) < dna.quirks.label_noise) & is_train
    train_after = [b if noisy[i] else a for i, (a, b) in enumerate(zip(rows["after"], rows["before"]))]
    tr = np.flatnonzero(is_train).tolist()
    te = np.flatnonzero(~is_train).tolist()
    pick = lambda key, idx: [rows[key][i] for i in idx]
    train = {"id": pick("id", tr), "sentence_id": pick("sentence_id", tr), "token_id": pick("token_id", tr),
             "class": pick("class", tr), "before": pick("before", tr), "after": [train_after[i] for i in tr]}
    test = {"id": pick("id", te), "sentence_id": pick("sentence_id", te), "token_id": pick("token_id", te),
            "before": pick("before", te)}
    test_ids = pick("id", te)
    docs = [ColumnDoc("sentence_id", "sentence number"), ColumnDoc("token_id", "position of the token in its sentence"),
            ColumnDoc("before", "the token as written")]
    label_docs = [ColumnDoc("class", f"token class (one of: {', '.join(CLASS_NAMES)})"),
                  ColumnDoc("after", "the token's spoken form")]
    rule = (f"Spoken forms follow sandmle.synth.generators.numbers.spoken (language {lang}). A 4-digit number "
            f"in 1900-2030 is a year (read as a year, class DATE) or a plain number (CARDINAL) by its hidden class; "
            f"the cue words {', '.join(cues)} precede 85% of years and 10% of such plain numbers. 10% of answers "
            f"use an annotator variant where one exists. Training 'after' copied from 'before' with probability "
            f"{dna.quirks.label_noise}.\n")
    return GeneratedData(
        train=train, test=test, answers={"id": test_ids, "after": pick("after", te)},
        oracle={"id": test_ids, "after": pick("oracle", te)}, sample={"id": test_ids, "after": pick("before", te)},
        files={}, docs=docs, label_docs=label_docs, rule_text=rule,
        train_ids=tuple(pick("id", tr)), test_ids=tuple(test_ids))
