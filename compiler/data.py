"""Data sets as the CLI reads them: CSV with feature columns x0..xN-1 and an optional `label`."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bespoke.compiler.errors import BespokeError


def read_csv(path: str | Path, n_features: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """(features float64 [samples, n], labels or None). A header row is optional; a column
    named `label` (or, without a header, none) holds the class labels."""
    path = Path(path)
    if not path.is_file():
        raise BespokeError(f"{path}: no such data file")
    with path.open(newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if not rows:
        raise BespokeError(f"{path}: empty data file")
    header = rows[0] if not _numeric(rows[0]) else None
    body = rows[1:] if header else rows
    if not body:
        raise BespokeError(f"{path}: no data rows")
    label_col = header.index("label") if header and "label" in header else None
    widths = {len(r) for r in body}
    if len(widths) != 1:
        raise BespokeError(f"{path}: rows have different numbers of columns ({sorted(widths)})")
    if header and len(header) != len(body[0]):
        raise BespokeError(f"{path}: the header names {len(header)} columns, the rows have {len(body[0])}")
    try:
        table = np.array(body, dtype=np.float64)
    except ValueError:
        raise BespokeError(f"{path}: non-numeric values in the data rows") from None
    bad = ~np.isfinite(table)
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        raise BespokeError(f"{path}: {int(bad.sum())} values are NaN or infinite (first: row {row + 1 + bool(header)}, "
                           f"column {col + 1}); every feature needs a finite number")
    if label_col is None and header is None and n_features is not None and table.shape[1] == n_features + 1:
        label_col = table.shape[1] - 1  # headerless file with a trailing label column
    labels = None
    if label_col is not None:
        labels = table[:, label_col]
        table = np.delete(table, label_col, axis=1)
        if np.all(labels == np.rint(labels)) and np.all(np.abs(labels) < 2.0**62):
            labels = labels.astype(np.int64)
    if n_features is not None and table.shape[1] != n_features:
        raise BespokeError(f"{path}: {table.shape[1]} feature columns, the model takes {n_features}")
    return table, labels


def _numeric(row: list[str]) -> bool:
    try:
        [float(c) for c in row]
        return True
    except ValueError:
        return False
