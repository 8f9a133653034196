"""One table from several ``bench_real.py`` result files (runs of a few pairs each).

Rows are sorted by pair; each pair's row comes from the last file (in the order given) that
holds it, so a re-run replaces an earlier row. Columns: the input, the Gaussian filter (1.5x our
PSF sigma), the oracle Gaussian, DecoNoising with its steps, and ours minus each filter;
optionally ours from earlier files (``--compare``, e.g. the 2-minute runs). The means are over
the pairs in the table.

    python bench/real_table.py results/real_10min*.json --compare results/real_2min*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

OURS, GAUSSIAN, ORACLE = "deconoising", "gaussian", "gaussian_best"


def rows_by_pair(files: list[Path]) -> dict[str, dict]:
    """Each pair's entry from the last file holding all three methods for it."""
    rows: dict[str, dict] = {}
    for file in files:
        for name, entry in json.loads(file.read_text())["pairs"].items():
            if all(method in entry["runs"] for method in (OURS, GAUSSIAN, ORACLE)):
                rows[name] = entry
    return rows


def ours_by_pair(files: list[Path]) -> dict[str, float]:
    """Our SI-PSNR per pair in the ``--compare`` files (last file wins)."""
    found: dict[str, float] = {}
    for file in files:
        for name, entry in json.loads(file.read_text())["pairs"].items():
            if OURS in entry["runs"]:
                found[name] = entry["runs"][OURS]["si_psnr"]
    return found


def cell(run: dict) -> str:
    """SI-PSNR / SSIM of one run."""
    return f"{run['si_psnr']:.2f} / {run['ssim']:.3f}"


def table(rows: dict[str, dict], earlier: dict[str, float]) -> str:
    """The markdown table with its mean row and a one-line summary."""
    lines = [
        "| pair | input | Gaussian | oracle Gaussian | ours earlier | ours (steps) "
        "| ours - Gaussian | ours - oracle |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    gaps = {"gaussian": [], "oracle": [], "earlier": []}
    for name, entry in sorted(rows.items()):
        runs = entry["runs"]
        ours = runs[OURS]["si_psnr"]
        gaps["gaussian"].append(ours - runs[GAUSSIAN]["si_psnr"])
        gaps["oracle"].append(ours - runs[ORACLE]["si_psnr"])
        before = earlier.get(name)
        if before is not None:
            gaps["earlier"].append(ours - before)
        lines.append(
            f"| {name} | {entry['noisy']['si_psnr']:.2f} | {cell(runs[GAUSSIAN])} "
            f"| {cell(runs[ORACLE])} | {'' if before is None else f'{before:.2f}'} "
            f"| {cell(runs[OURS])} ({runs[OURS]['steps']}) | {gaps['gaussian'][-1]:+.2f} "
            f"| {gaps['oracle'][-1]:+.2f} |"
        )
    means = {key: float(np.mean(values)) for key, values in gaps.items() if values}
    lines.append(
        f"\n{len(rows)} pairs; ours minus the Gaussian **{means['gaussian']:+.2f} dB** on "
        f"average (behind it on {sum(g < 0 for g in gaps['gaussian'])}), minus the oracle "
        f"Gaussian {means['oracle']:+.2f} dB"
        + (f", minus ours earlier {means['earlier']:+.2f} dB." if "earlier" in means else ".")
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path, help="bench_real.py result files")
    parser.add_argument("--compare", nargs="*", type=Path, default=[], help="earlier runs")
    args = parser.parse_args()
    print(table(rows_by_pair(args.files), ours_by_pair(args.compare)))


if __name__ == "__main__":
    main()
