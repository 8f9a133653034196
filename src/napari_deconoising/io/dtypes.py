"""The one rule for the data type of written images, shared by the TIFF writer and block-wise
prediction: ``"float32"``, ``"input"`` (the input's integer type; float32 for float inputs) or an
explicit type, and how float results become integers (rounded, NaN as 0, clipped to the range)."""

from __future__ import annotations

from typing import Any

import numpy as np

from napari_deconoising.errors import ImageError

WRITABLE_DTYPES = tuple(
    np.dtype(t)
    for t in ("uint8", "uint16", "uint32", "int8", "int16", "int32", "float32", "float64")
)
"""The explicit types an output may have (what OME-TIFF and OME-Zarr both store)."""


def output_dtype(dtype: Any, source: np.dtype, input_dtype: Any = None) -> np.dtype:
    """The type to write: ``"float32"``; ``"input"``: the type of the input (``input_dtype``, else
    ``source``) when it is an integer type (bool as uint8), float32 otherwise; or an explicit
    type out of :data:`WRITABLE_DTYPES` (float16 is written as float32)."""
    if isinstance(dtype, str) and dtype == "float32":
        return np.dtype(np.float32)
    if isinstance(dtype, str) and dtype == "input":
        kind = np.dtype(input_dtype) if input_dtype is not None else np.dtype(source)
        if kind == np.bool_:
            return np.dtype(np.uint8)
        return kind.newbyteorder("=") if kind.kind in "iu" else np.dtype(np.float32)
    try:
        target = np.dtype(dtype).newbyteorder("=")
    except TypeError as err:
        raise ImageError(f"unknown output data type {dtype!r}") from err
    if target == np.float16:
        return np.dtype(np.float32)
    if target not in WRITABLE_DTYPES:
        names = ", ".join(t.name for t in WRITABLE_DTYPES)
        raise ImageError(f"cannot write {target.name} images; use one of {names}")
    return target


def convert_values(array: np.ndarray, target: np.dtype) -> np.ndarray:
    """Cast to ``target``; integer targets get rounded values (NaN as 0) clipped to their range."""
    if np.iscomplexobj(array):
        raise ImageError("cannot write complex images")
    if target.kind not in "iu" or array.dtype == target:
        return array.astype(target, copy=False)
    if array.dtype.kind in "iu" and np.can_cast(array.dtype, target):
        return array.astype(target)
    info = np.iinfo(target)
    work = np.nan_to_num(np.rint(array.astype(np.float64)), nan=0.0)
    return np.clip(work, info.min, info.max).astype(target)
