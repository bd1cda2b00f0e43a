"""Input clamps and external currents for the Neuraxon engines (v1 and v2), validated into arrays.

A clamp row is int8[k] with one trit per input neuron, or ``NO_CLAMP`` to leave it alone; an
external row is float64[N] of currents by neuron id. :func:`drive_arrays` turns the arguments of
``Network.run`` into the ``clamp`` int8[T, k] and ``ext`` float64[T, N] arrays the run kernels take
(first dimension 0 when absent).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from engine.neuraxon_kernels import NO_CLAMP

__all__ = ["EMPTY_CLAMP", "EMPTY_EXT", "drive_arrays", "external_row", "trit_row"]

EMPTY_CLAMP = np.zeros((0, 0), dtype=np.int8)
EMPTY_EXT = np.zeros((0, 0))


def trit_row(trits: Sequence[int] | npt.NDArray[Any], n_inputs: int) -> npt.NDArray[np.int8]:
    """One clamp row: the given trits for the first inputs, ``NO_CLAMP`` for the rest."""
    values = list(trits)
    if len(values) > n_inputs:
        raise ValueError(f"set_input_states: got {len(values)} trits for {n_inputs} input neurons")
    row = np.full(n_inputs, NO_CLAMP, dtype=np.int8)
    for i, v in enumerate(values):
        if isinstance(v, bool) or v not in (-1, 0, 1):
            raise ValueError(f"set_input_states: trit {i} must be -1, 0 or 1, got {v!r}")
        row[i] = int(v)
    return row


def external_row(external: Mapping[Any, Any], n_neurons: int) -> npt.NDArray[np.float64]:
    """Currents by neuron id (ints, or decimal strings as in JSON) as a float64[N] row."""
    row = np.zeros(n_neurons)
    for key, value in external.items():
        nid = key
        if isinstance(key, str) and key.lstrip("-").isdigit():
            nid = int(key)
        if isinstance(nid, bool) or not isinstance(nid, int | np.integer) or not 0 <= nid < n_neurons:
            raise ValueError(f"external: unknown neuron id {key!r} (network has {n_neurons})")
        if isinstance(value, bool) or not isinstance(value, int | float | np.floating | np.integer) \
                or not math.isfinite(value):
            raise ValueError(f"external[{key!r}]: current must be a finite number, got {value!r}")
        row[nid] = float(value)
    return row


def drive_arrays(n_steps: int, inputs: npt.ArrayLike | None,
                 external: npt.ArrayLike | Sequence[Mapping[Any, Any] | None] | None,
                 n_inputs: int, n_neurons: int) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.float64]]:
    """``(clamp, ext)`` for a run of ``n_steps``; raises ValueError naming a malformed argument.

    ``inputs``: trits [n_steps, k] (k <= inputs) or None. ``external``: float64 [n_steps, N], or
    one mapping (or None) per step, or None.
    """
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative integer, got {n_steps!r}")
    clamp = EMPTY_CLAMP
    if inputs is not None:
        rows = np.asarray(inputs)
        if rows.ndim != 2 or rows.shape[0] != n_steps:
            raise ValueError(f"inputs must have shape ({n_steps}, k), got {rows.shape}")
        clamp = np.stack([trit_row(row, n_inputs) for row in rows]) if n_steps else EMPTY_CLAMP
    ext = EMPTY_EXT
    if external is not None:
        if isinstance(external, np.ndarray):
            ext = np.ascontiguousarray(external, dtype=np.float64)
            if ext.shape != (n_steps, n_neurons):
                raise ValueError(f"external must have shape ({n_steps}, {n_neurons}), got {ext.shape}")
            if not np.isfinite(ext).all():
                raise ValueError("external currents must be finite")
        else:
            rows_ext = list(external)  # type: ignore[arg-type]
            if len(rows_ext) != n_steps:
                raise ValueError(f"external needs {n_steps} entries, got {len(rows_ext)}")
            ext = np.zeros((n_steps, n_neurons))
            for t, m in enumerate(rows_ext):
                if m is None:
                    continue
                if not isinstance(m, Mapping):
                    raise ValueError(f"external[{t}]: must be a mapping of neuron id to current")
                ext[t] = external_row(m, n_neurons)
    return clamp, ext
