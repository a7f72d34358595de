"""Image inputs: small PNGs of an object whose look carries the latent inputs.

Every image shows one elliptical object on a shaded background. Six latent attributes set
its colour (a mix of two task colours), size, elongation, stripe texture, number of dark
spots and the background brightness; position, stripe angle, clutter lines and pixel noise
vary at random and carry nothing. Models must recover the attributes from pixels (colour
histograms, edges, downsampled pixels); the oracle reads them directly.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators.common import ColumnDoc, Part

ATTRIBUTES = ("colour_mix", "size", "elongation", "stripes", "spots", "background")


def _palette(rng: np.random.Generator, channels: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if channels == 1:
        return np.array([0.25]), np.array([0.85]), np.array([0.5])
    a, b = rng.uniform(0.1, 0.9, 3), rng.uniform(0.1, 0.9, 3)
    while np.abs(a - b).sum() < 0.8:
        b = rng.uniform(0.1, 0.9, 3)
    return a, b, rng.uniform(0.3, 0.7, 3)


def render(attrs: np.ndarray, size_px: int, channels: int, palette, rng: np.random.Generator) -> np.ndarray:
    """Images (n, size, size, channels) in [0, 1] from attribute rows (n, 6)."""
    n = attrs.shape[0]
    mix, size, elong, stripes, spots, bg = (attrs[:, k][:, None, None, None] for k in range(6))
    c1, c2, base = (np.asarray(c)[None, None, None, :] for c in palette)
    grid = np.arange(size_px, dtype=float) / size_px
    yy, xx = grid[None, :, None, None], grid[None, None, :, None]
    tilt = rng.uniform(-0.15, 0.15, n)[:, None, None, None]
    img = base * (0.35 + 0.5 * bg) + tilt * (xx - 0.5)
    cx, cy = (rng.uniform(0.35, 0.65, n)[:, None, None, None] for _ in range(2))
    radius = 0.14 + 0.2 * size
    rx, ry = radius * np.sqrt(elong), radius / np.sqrt(elong)
    inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 < 1.0
    colour = (1 - mix) * c1 + mix * c2
    angle = rng.uniform(0, np.pi, n)[:, None, None, None]
    wave = np.sin(2 * np.pi * 4.0 * ((xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)))
    img = np.where(inside, colour * (1.0 + 0.45 * stripes * wave), img)
    offsets = rng.uniform(-0.7, 0.7, (2, n, 5))
    dark = np.zeros(inside.shape, dtype=bool)
    for k in range(5):
        sx = cx + rx * offsets[0, :, k][:, None, None, None]
        sy = cy + ry * offsets[1, :, k][:, None, None, None]
        dark |= ((xx - sx) ** 2 + (yy - sy) ** 2 < (1.6 / size_px) ** 2) & (spots > k + 0.5)
    img = img * np.where(dark, 0.25, 1.0)
    lines = rng.integers(0, 3, n)          # clutter: faint lines carrying nothing
    where = rng.integers(0, size_px, (n, 2))
    shade = rng.uniform(-0.15, 0.15, (n, 2))
    vertical = rng.random((n, 2)) < 0.5
    for i in range(n):
        for k in range(int(lines[i])):
            if vertical[i, k]:
                img[i, :, where[i, k], :] += shade[i, k]
            else:
                img[i, where[i, k], :, :] += shade[i, k]
    img = img + 0.06 * rng.standard_normal(img.shape, dtype=np.float32)
    return np.clip(img, 0.0, 1.0)


def png_bytes(pixels: np.ndarray) -> bytes:
    """PNG of an (h, w, c) array in [0, 1]; grey when c == 1."""
    data = np.round(pixels * 255).astype(np.uint8)
    image = Image.fromarray(data[:, :, 0], mode="L") if data.shape[2] == 1 else Image.fromarray(data, mode="RGB")
    buf = io.BytesIO()
    image.save(buf, format="PNG", compress_level=0)   # noisy pixels barely compress; this is 3x faster
    return buf.getvalue()


def image_part(dna: TaskDNA, bp: Blueprint, ids: list[str], is_test: np.ndarray, rng: np.random.Generator) -> Part:
    n = len(ids)
    f = dna.features
    attrs = np.stack([rng.uniform(0, 1, n), rng.uniform(0, 1, n), np.exp(rng.uniform(-0.7, 0.7, n)),
                      rng.uniform(0, 1, n), rng.integers(0, 6, n).astype(float), rng.uniform(0, 1, n)], axis=1)
    if dna.quirks.shift:
        attrs[is_test, 5] = np.clip(attrs[is_test, 5] + 0.3 * dna.quirks.shift, 0, 1)
    palette = _palette(rng, f.image_channels)
    pixels = render(attrs, f.image_size_px, f.image_channels, palette, rng)
    files = {f"images/{image_id}.png": png_bytes(pixels[i]) for i, image_id in enumerate(ids)}
    latent = attrs.copy()
    latent[:, 2] = np.log(latent[:, 2])
    kind = "RGB" if f.image_channels == 3 else "greyscale"
    docs = [ColumnDoc("images/<id>.png", f"a {f.image_size_px}x{f.image_size_px} {kind} {bp.domain.image_subject} per row",
                      "pixels")]
    return Part(latent=latent, input_names=[f"image_{a}" for a in ATTRIBUTES], files=files, docs=docs)
