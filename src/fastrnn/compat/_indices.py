"""Checking the token-index sequences the classic codes take (lists of ints)."""

from __future__ import annotations

import numpy as np


def token_indices(values, name: str, size: int, bound: str, kind: str) -> np.ndarray:
    """values as a 1-D int64 array of indices in [0, size).

    name is the argument's name, bound the size's name (``word_dim``, ``V``) and kind what
    an index stands for (``word``, ``character``), for the error messages."""
    ids = np.asarray(values)
    if ids.ndim != 1:
        raise ValueError(f"{name} must be a sequence of {kind} indices; got shape {ids.shape}")
    if ids.size == 0:  # np.asarray([]) is float64: an empty sequence is fine
        return np.zeros(0, dtype=np.int64)
    if ids.dtype.kind not in "iu":
        raise TypeError(f"{name} must hold integer {kind} indices; got dtype {ids.dtype}")
    outside = (ids < 0) | (ids >= size)
    if outside.any():
        t = int(np.argmax(outside))
        raise ValueError(
            f"{name}[{t}] = {ids[t]} is not a {kind} index in [0, {bound}) = [0, {size})"
        )
    return ids.astype(np.int64, copy=False)
