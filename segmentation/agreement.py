"""How well two labellings of the same pixels agree: the adjusted Rand index (Hubert & Arabie).

1.0 when the two group the pixels identically (whatever the label numbers), about 0.0 for a
labelling no better than chance. Used to compare automatic maps with hand-drawn ones.
"""

from __future__ import annotations

import numpy as np
from scipy.special import comb


def adjusted_rand_index(first: np.ndarray, second: np.ndarray) -> float:
    """ARI of two integer label arrays of the same shape."""
    if first.shape != second.shape:
        raise ValueError(f"label arrays differ in shape: {first.shape} and {second.shape}")
    _, a = np.unique(first.ravel(), return_inverse=True)
    _, b = np.unique(second.ravel(), return_inverse=True)
    table = np.zeros((a.max() + 1, b.max() + 1))
    np.add.at(table, (a, b), 1)
    pairs_together = comb(table, 2).sum()
    rows, columns = comb(table.sum(1), 2).sum(), comb(table.sum(0), 2).sum()
    expected = rows * columns / comb(first.size, 2)
    best = (rows + columns) / 2
    if best == expected:  # both labellings put everything in one group (or split it identically)
        return 1.0
    return float((pairs_together - expected) / (best - expected))
