"""Composite PSD benchmark: 1 Fizeau + 6 microscope maps, against the sum of their PSDs.

Case ``composite 1 Fizeau + 6 microscope`` at N x N pixels per map (1024 by
default, 256 in ``--quick``): a synthetic part (:mod:`metrology.synth_composite`,
radial PSD 0.066 f^-1.5 nm² mm plus 30 nm of form) measured by a Fizeau
(dx = 51.2 mm / N, 48 mm disk aperture, Gaussian ITF) and two microscopes of
3 sites each (2.56 mm and 0.256 mm fields). Each timed call starts from the
height maps, as a user's composite does:

* ``metrology (7 x psd)``: the reference, :func:`metrology.spectral.psd` of each
  map with the composite's settings (Hann, piston + tilt + power removed);
* ``metrology composite_psd``: :func:`metrology.composite.composite_psd` of the
  7 maps with their tabulated ITFs (coverage from the connected regions, PSDs
  with the grid's bins in the fused pass, binning, site averaging,
  combination, overlaps).

The issue's target: composite < 1.3 x the sum of the single-file PSDs
(``× ours`` of the composite row).

Run ``python -m benchmarks.bench_composite`` (``--quick`` for a smoke run).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from metrology.composite import Contribution, composite_psd
from metrology.synth_composite import Instrument, KnownSurface, measure_part
from metrology.synth_psd import PowerLaw

from ._harness import fmt_s, row

mp = importlib.import_module("metrology.spectral")

CASE = "composite 1 Fizeau + 6 microscope"
REMOVE = ("piston", "tilt", "power")
NOTES: list[str] = []


def part(n: int) -> tuple[list[Any], list[Contribution]]:
    """The 7 maps of one part at n x n pixels each, and their contributions (with ITFs)."""
    surf = KnownSurface(PowerLaw(0.066, 1.5, "radial"), form_sag_nm=30.0, part_diameter_mm=50)
    fiz = Instrument("fizeau", (n, n), 51.2 / n, noise_nm=0.02, itf_half_per_mm=0.3 * n / 51.2,
                     aperture_diameter_mm=48.0)
    m5 = Instrument("micro-5x", (n, n), 2.56 / n, noise_nm=0.005,
                    itf_half_per_mm=0.3 * n / 2.56, n_sites=3)
    m50 = Instrument("micro-50x", (n, n), 0.256 / n, noise_nm=0.005,
                     itf_half_per_mm=0.3 * n / 0.256, n_sites=3)
    insts = {i.name: i for i in (fiz, m5, m50)}
    maps = measure_part(surf, [fiz, m5, m50], seed=0)
    contribs = [Contribution(m, itf=insts[m.meta["instrument"]].itf_table(), remove=REMOVE)
                for m in maps]
    return maps, contribs


def sum_of_psds(maps: list[Any]) -> list[Any]:
    """What the composite does at least: one PSD per file."""
    return [mp.psd(m, window="hann", remove=REMOVE) for m in maps]


def run(sizes: tuple[int, ...] = (1024,), quick: bool = False) -> list[dict[str, Any]]:
    """Rows ``{"case", "impl", "size", "median_s", ...}``: the reference first."""
    if quick:
        sizes = (256,)
    rows: list[dict[str, Any]] = []
    NOTES.clear()
    for n in sizes:
        maps, contribs = part(n)
        c = composite_psd(contribs)
        # never time a wrong answer: the finest instrument's band within 5 % of its truth
        surf = KnownSurface(PowerLaw(0.066, 1.5, "radial"))
        seg = c.instruments["micro-50x"]
        lo, hi = seg.f_min_per_mm * 1.2, seg.f_max_per_mm / 1.2
        r = c.band_rms(lo, hi)
        truth = surf.band_rms_nm(lo, hi)
        if not (r.measurable and abs(r.rms_nm / truth - 1) < 0.05):
            raise AssertionError(f"composite band RMS {r.rms_nm} vs truth {truth} at {n}")
        kw = {"repeat": 3 if quick else 7, "budget_s": 1.0 if quick else 8.0}
        ref = row(CASE, "metrology (7 x psd)", n, lambda m=maps: sum_of_psds(m), **kw)
        ours = row(CASE, "metrology composite_psd", n, lambda c=contribs: composite_psd(c),
                   **kw)
        rows += [ref, ours]
        if ref.get("median_s") and ours.get("median_s"):
            ratio = ours["median_s"] / ref["median_s"]
            NOTES.append(f"- composite of 7 maps of {n}²: {fmt_s(ours['median_s'])} = "
                         f"{ratio:.2f} x the sum of the single-file PSDs "
                         f"({fmt_s(ref['median_s'])}); target < 1.3 x: "
                         f"{'reached' if ratio < 1.3 else 'MISSED'}")
    return rows


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(f"{r['case']:36s} {r['size']:>5} {r['impl']:28s} {fmt_s(r.get('median_s')):>10s}")
    print("\n".join(NOTES))
