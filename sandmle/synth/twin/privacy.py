"""The privacy check: do a twin's rows sit closer to real rows than real rows sit to each other?

    report = distance_check(columns, real_cells, twin_cells)    # PrivacyReport; .passed

Rows are compared in one space: numbers (and datetimes) scaled by their real standard
deviation, categories one-hot scaled by 1/sqrt(2) (two different levels are 1 apart), an
empty cell as its own coordinate. The real rows are split in half: for each held-out real row
its distance to the closest row of the other half gives the real data's own nearest-neighbour
distances; `CLOSE_QUANTILE` of them is the "close" radius. A twin memorises when more than
`MAX_CLOSE_SHARE` of its rows lie within that radius of a real row (a fresh sample of the
same population has about `CLOSE_QUANTILE` of them there, and copies of real rows all do).
This is the distance-to-closest-record test of synthetic-data privacy practice.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

CLOSE_QUANTILE = 0.05
MAX_CLOSE_SHARE = 0.15
MAX_ROWS = 2000


@dataclass(frozen=True)
class PrivacyReport:
    close_radius: float             # CLOSE_QUANTILE of real held-out rows' distance to the closest other real row
    real_close_share: float         # share of held-out real rows within the radius (about CLOSE_QUANTILE)
    twin_close_share: float         # share of twin rows within the radius of a real row
    twin_exact_share: float         # share of twin rows equal to a real row
    median_twin_distance: float
    median_real_distance: float
    passed: bool

    def to_json(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}

    def line(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (f"privacy {verdict}: {self.twin_close_share:.1%} of twin rows within the closest "
                f"{CLOSE_QUANTILE:.0%} of real-to-real distances ({self.close_radius:.3g}; at most "
                f"{MAX_CLOSE_SHARE:.0%} allowed), {self.twin_exact_share:.1%} exact copies")


def _space(columns, cells) -> np.ndarray:
    blocks = []
    for col, values in zip(columns, cells):
        if col.kind == "categorical":
            blocks.append(np.stack([np.array([v == level for v in values], dtype=float) for level in col.values]
                                   + [np.array([v is None for v in values], dtype=float)], axis=1) / np.sqrt(2))
            continue
        values = np.asarray(values, dtype=float)
        empty = np.isnan(values)
        blocks.append(np.stack([np.where(empty, 0.0, (values - col.mean) / col.sd), empty.astype(float)], axis=1))
    return np.hstack(blocks)


def _nearest(query: np.ndarray, reference: np.ndarray) -> np.ndarray:
    from sklearn.neighbors import NearestNeighbors

    return NearestNeighbors(n_neighbors=1).fit(reference).kneighbors(query)[0][:, 0]


def distance_check(columns, real_cells, twin_cells, seed: int = 0) -> PrivacyReport:
    """Compare twin-to-real with real-to-real nearest-record distances (module doc)."""
    rng = np.random.default_rng(seed)
    real = _space(columns, real_cells)
    twin = _space(columns, twin_cells)
    real = real[rng.permutation(len(real))[:2 * MAX_ROWS]]
    twin = twin[rng.permutation(len(twin))[:MAX_ROWS]]
    half = len(real) // 2
    held, kept = real[:half], real[half:]
    real_d = _nearest(held, kept)
    twin_d = _nearest(twin, kept)
    radius = float(np.quantile(real_d, CLOSE_QUANTILE))
    tol = 1e-9
    real_close = float(np.mean(real_d <= radius + tol))
    twin_close = float(np.mean(twin_d <= radius + tol))
    # Where real rows repeat each other (radius 0), a twin row equal to one is no sign of
    # copying beyond what the population itself does: allow the real rate plus the margin.
    allowed = max(MAX_CLOSE_SHARE, real_close + (MAX_CLOSE_SHARE - CLOSE_QUANTILE))
    return PrivacyReport(close_radius=radius, real_close_share=real_close, twin_close_share=twin_close,
                         twin_exact_share=float(np.mean(twin_d <= tol)),
                         median_twin_distance=float(np.median(twin_d)), median_real_distance=float(np.median(real_d)),
                         passed=twin_close <= allowed)
