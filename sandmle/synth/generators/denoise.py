"""Image-to-image denoising: noisy scanned pages -> clean pages (denoising-dirty-documents).

A clean page is light paper with rows of dark glyph blocks. Its noisy scan multiplies in
low-frequency stains, fades the ink, adds speckle and a few salt-and-pepper pixels (more
with the outlier quirk). The hidden answers are the clean page plus a faint paper texture
that no model can predict; the oracle is the clean page itself. train/ holds noisy scans,
train_cleaned/ their clean pages, test/ the scans to clean; the submission is long format,
one row per pixel: id = <image>_<row>_<col> (1-based), value.
"""
from __future__ import annotations

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators.common import ColumnDoc, GeneratedData, fmt
from sandmle.synth.generators.image import png_bytes


def _page(size: int, rng: np.random.Generator) -> np.ndarray:
    page = np.full((size, size), rng.uniform(0.92, 1.0))
    row = int(rng.integers(2, 4))
    while row + 3 < size:
        col = int(rng.integers(1, 4))
        height = int(rng.integers(2, 4))
        while col + 2 < size:
            width = int(rng.integers(1, 4))
            page[row:row + height, col:col + width] = rng.uniform(0.05, 0.25)
            col += width + int(rng.integers(1, 3))
        row += height + int(rng.integers(2, 4))
    return page


def _scan(clean: np.ndarray, outlier_rate: float, rng: np.random.Generator) -> np.ndarray:
    size = clean.shape[0]
    yy, xx = np.mgrid[0:size, 0:size] / size
    stain = np.ones_like(clean)
    for _ in range(int(rng.integers(1, 4))):
        cx, cy, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.15, 0.45)
        stain -= rng.uniform(0.15, 0.45) * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))
    fade = rng.uniform(0.0, 0.35)
    noisy = (clean + fade * (1.0 - clean) * (clean < 0.5)) * stain
    noisy = noisy + rng.normal(0.0, rng.uniform(0.03, 0.08), clean.shape)
    salt = rng.random(clean.shape) < 0.01 + outlier_rate
    noisy[salt] = rng.choice([0.0, 1.0], int(salt.sum()))
    return np.clip(noisy, 0.0, 1.0)


def generate_denoise(dna: TaskDNA, bp: Blueprint, rng: np.random.Generator) -> GeneratedData:
    size = dna.features.image_size_px
    files: dict[str, bytes] = {}
    train = {"image": [], "noisy": [], "cleaned": []}
    test = {"image": [], "noisy": []}
    answers = {"id": [], "value": []}
    oracle = {"id": [], "value": []}
    sample = {"id": [], "value": []}
    rows, cols = np.mgrid[1:size + 1, 1:size + 1]
    for image in range(1, bp.train_rows + bp.test_rows + 1):
        clean = _page(size, rng)
        noisy = _scan(clean, dna.quirks.outlier_rate, rng)
        target = np.clip(clean + rng.normal(0.0, 0.02, clean.shape), 0.0, 1.0)
        target = np.round(target * 255) / 255          # what a PNG of the clean page holds
        if image <= bp.train_rows:
            files[f"train/{image}.png"] = png_bytes(noisy[:, :, None])
            files[f"train_cleaned/{image}.png"] = png_bytes(target[:, :, None])
            train["image"].append(str(image))
            train["noisy"].append(f"train/{image}.png")
            train["cleaned"].append(f"train_cleaned/{image}.png")
        else:
            files[f"test/{image}.png"] = png_bytes(noisy[:, :, None])
            test["image"].append(str(image))
            test["noisy"].append(f"test/{image}.png")
            ids = [f"{image}_{r}_{c}" for r, c in zip(rows.ravel().tolist(), cols.ravel().tolist())]
            answers["id"] += ids
            answers["value"] += fmt(target.ravel(), 4)
            oracle["id"] += ids
            oracle["value"] += fmt(clean.ravel(), 4)
            sample["id"] += ids
            sample["value"] += ["1"] * len(ids)
    docs = [ColumnDoc("image", "image number"), ColumnDoc("noisy", "path of the noisy scan (PNG)"),
            ColumnDoc("train/<image>.png", f"noisy {size}x{size} greyscale scans for training"),
            ColumnDoc("train_cleaned/<image>.png", "the same pages cleaned"),
            ColumnDoc("test/<image>.png", "noisy scans to clean")]
    label_docs = [ColumnDoc("cleaned", "path of the cleaned page (PNG)")]
    rule = ("Clean page: paper level U(0.92, 1) with rows of ink blocks U(0.05, 0.25). Scan: ink faded by U(0, 0.35), "
            "multiplied by 1-3 Gaussian stains, speckle N(0, U(0.03, 0.08)), salt-and-pepper at rate "
            f"{0.01 + dna.quirks.outlier_rate:.3f}. Answers: clean page + N(0, 0.02) texture; oracle: the clean page.\n")
    return GeneratedData(train=train, test=test, answers=answers, oracle=oracle, sample=sample, files=files,
                         docs=docs, label_docs=label_docs, rule_text=rule,
                         train_ids=tuple(train["image"]), test_ids=tuple(test["image"]))
