"""Free-text inputs: documents built from class-relevant cue words, phrases and negations.

Each task draws a few latent topics. A topic has three cue words (from the domain's vocabulary)
and one two-word phrase made of common words that mean nothing alone. A document mentions
each topic a random number of times, sometimes negated ("not <cue>"), amid filler words;
the topic's latent input is its mentions minus its negated mentions. So a bag of words is
misled by negations and blind to phrases, and word n-gram models do better.
"""
from __future__ import annotations

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.domains import GENERIC_WORDS, NEGATIONS
from sandmle.synth.generators.common import ColumnDoc, Part


def text_part(dna: TaskDNA, bp: Blueprint, is_test: np.ndarray, rng: np.random.Generator) -> Part:
    n = len(is_test)
    words = list(bp.domain.words)
    topics = int(min(8, max(4, dna.num_outputs + 2)))
    order = rng.permutation(len(words))
    cues = [[words[i] for i in order[t * 3:(t + 1) * 3]] for t in range(topics)]
    neutral = list(GENERIC_WORDS) + [words[i] for i in order[topics * 3:topics * 3 + 10]]
    phrase_pool = list(GENERIC_WORDS)
    phrases = []
    for t in range(topics):
        a, b = rng.choice(len(phrase_pool), size=2, replace=False).tolist()
        phrases.append((phrase_pool[a], phrase_pool[b]))
    length = dna.features.text_length_words
    columns, docs = {}, []
    latent = np.zeros((n, topics))
    text_columns = [c for c in bp.columns if c.kind == "text"]
    neg_words = np.array(NEGATIONS, dtype=object)
    for ci, col in enumerate(text_columns):
        rate = rng.uniform(1.5, 2.5, topics)
        counts = rng.poisson(rate, size=(n, topics))
        row = np.repeat(np.repeat(np.arange(n), topics), counts.ravel())
        topic = np.repeat(np.tile(np.arange(topics), n), counts.ravel())
        u = rng.random(len(row))
        cue = rng.integers(0, 3, len(row))
        neg = rng.integers(0, len(NEGATIONS), len(row))
        sign = np.where(u < 0.08, -1.0, 1.0)
        np.add.at(latent, (row, topic), sign)
        chunks = [f"{neg_words[neg[m]]} {cues[t][cue[m]]}" if u[m] < 0.08 else
                  (" ".join(phrases[t]) if u[m] < 0.23 else cues[t][cue[m]])
                  for m, t in enumerate(topic.tolist())]
        used = np.bincount(row, weights=np.where((u >= 0.08) & (u < 0.23), 2, 1) + (u < 0.08), minlength=n)
        fill = np.maximum(3, rng.normal(length, length / 4, n).astype(int) - used.astype(int))
        zipf = 1.0 / np.arange(1, len(neutral) + 1)
        fill_words = rng.choice(len(neutral), size=int(fill.sum()), p=zipf / zipf.sum()).tolist()
        all_rows = np.concatenate([row, np.repeat(np.arange(n), fill)])
        all_chunks = chunks + [neutral[i] for i in fill_words]
        order = np.lexsort((rng.random(len(all_rows)), all_rows))
        bounds = np.searchsorted(all_rows[order], np.arange(n + 1))
        cells = []
        for r in range(n):
            sentence = " ".join(all_chunks[k] for k in order[bounds[r]:bounds[r + 1]].tolist())
            cells.append(sentence[0].upper() + sentence[1:] + ".")
        columns[col.name] = cells
        docs.append(ColumnDoc(col.name, bp.domain.text_source if ci == 0 else f"more {bp.domain.text_source}"))
    names = [f"mentions(topic {t}: {'/'.join(cues[t])} + '{' '.join(phrases[t])}' - negated)" for t in range(topics)]
    return Part(latent=latent, input_names=names, columns=columns, docs=docs)
