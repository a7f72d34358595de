"""Audio inputs: short 16-bit mono WAV clips with calls in noise.

Each clip holds one to three calls (frequency sweeps with a Hann envelope) in white noise
and a low hum. Six latent attributes set the call's pitch, sweep direction and depth, its
loudness against the noise, its second-harmonic strength, how many calls there are and the
hum level; call timing and noise are random and carry nothing. Band energies and
spectrogram slices recover the attributes; the oracle reads them directly.
"""
from __future__ import annotations

import io
import wave

import numpy as np

from sandmle.synth.amplify import Blueprint
from sandmle.synth.dna import TaskDNA
from sandmle.synth.generators.common import ColumnDoc, Part

ATTRIBUTES = ("pitch", "sweep", "loudness", "harmonic", "calls", "hum")


def synthesise(attrs: np.ndarray, duration_s: float, rate_hz: int, rng: np.random.Generator) -> np.ndarray:
    pitch, sweep, loud, harmonic, calls, hum = attrs
    n = int(round(duration_s * rate_hz))
    t = np.arange(n) / rate_hz
    x = rng.normal(0.0, 0.12, n) + 0.1 * hum * np.sin(2 * np.pi * 60.0 * t + rng.uniform(0, 6.3))
    f0 = (0.06 + 0.22 * pitch) * rate_hz
    call_s = min(0.18, duration_s / 2.5)
    m = int(call_s * rate_hz)
    tc = np.arange(m) / rate_hz
    env = np.hanning(m)
    for _ in range(int(round(calls))):
        start = int(rng.integers(0, n - m))
        freq = f0 * (1.0 + 0.6 * sweep * tc / call_s)
        phase = 2 * np.pi * np.cumsum(freq) / rate_hz
        call = np.sin(phase) + harmonic * 0.6 * np.sin(2 * phase)
        x[start:start + m] += (0.08 + 0.5 * loud) * env * call
    return x


def wav_bytes(x: np.ndarray, rate_hz: int) -> bytes:
    pcm = np.round(np.clip(x / 1.6, -1.0, 1.0) * 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate_hz)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()


def audio_part(dna: TaskDNA, bp: Blueprint, ids: list[str], is_test: np.ndarray, rng: np.random.Generator) -> Part:
    n = len(ids)
    f = dna.features
    attrs = np.stack([rng.uniform(0, 1, n), rng.uniform(-1, 1, n), rng.uniform(0, 1, n), rng.uniform(0, 1, n),
                      rng.integers(1, 4, n).astype(float), rng.uniform(0, 1, n)], axis=1)
    if dna.quirks.shift:
        attrs[is_test, 5] = np.clip(attrs[is_test, 5] + 0.3 * dna.quirks.shift, 0, 1)
    files = {f"audio/{clip}.wav": wav_bytes(synthesise(attrs[i], f.audio_duration_s, f.audio_sample_rate_hz, rng),
                                            f.audio_sample_rate_hz)
             for i, clip in enumerate(ids)}
    docs = [ColumnDoc("audio/<id>.wav", f"a {f.audio_duration_s:g} s mono 16-bit {bp.domain.audio_subject} per row, "
                      f"{f.audio_sample_rate_hz} Hz", "samples")]
    return Part(latent=attrs, input_names=[f"audio_{a}" for a in ATTRIBUTES], files=files, docs=docs)
