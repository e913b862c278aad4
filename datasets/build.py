"""Regenerate the shipped sample parts, bit for bit: ``python datasets/build.py``.

Every part of ``datasets/parts/`` is described in :data:`PARTS` below: one
synthetic surface (:class:`metrology.synth.Surface`), a full-aperture Fizeau
map and microscope (CSI) maps at three sites, each written in a real
instrument format with a ``<file>.truth.json`` sidecar, and a ``part.json``.
A part may measure its first 5x site several times (``csi5x_repeats``: files
``<...>_site1_rep<k>``, one surface realisation, independent noise of a known
PSD) and add the 5x objective's reference error to every 5x map, with the
calibrated reference file beside them (``<...>_csi5x_reference``).

The truth in the sidecars comes from the generator's parameters through
:func:`metrology.synth.expected_values` (the form coefficients put in, the
power laws of the random part, the tool marks' formulas, the set-ups' grids
and masks), judged against the spec's limits. No map is analysed to make it:
the expected verdicts never come from the checker, nor from a second engine.

Determinism: fixed seeds (``numpy.random.SeedSequence``), fixed timestamps in
the file metadata, and every file written with ``SOURCE_DATE_EPOCH`` set to its
timestamp (the writers then date headers and zip entries with it and derive
their identifiers from the content; .datx GUIDs from the file's name, through
the writer's ``guid_key``). HDF5 is written without object time stamps. The
same software stack (NumPy, FFT backend) regenerates the same bytes.

Usage::

    python datasets/build.py            # all parts
    python datasets/build.py part-a-pass part-d-msf-toolmark
    python datasets/build.py --check    # rebuild into a temporary folder, compare bytes
    python datasets/build.py --truth-only   # rewrite the sidecars, keep the data files
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import metrology
from metrology import synth as S
from metrology import synth_fullband as SF
from metrology._json import jsonable
from metrology.heightmap import HeightMap
from metrology.verdicts import Verdict, exit_code_for, worst

ROOT = Path(__file__).resolve().parent
SPEC_PATH = ROOT / "specs" / "caf2-wafer-inspection.toml"
PARTS_DIR = ROOT / "parts"
TRUTH_SCHEMA = "metrology.synthetic-truth/2"
PART_SCHEMA = "metrology.synthetic-part/1"

#: measurement name in the spec -> file-name tag that the spec's match rules assign
TAGS = {"fizeau": "fizeau", "csi-5x": "csi5x", "csi-50x": "csi50x"}
#: extension of each format name
EXT = {"datx": ".datx", "metropro": ".dat", "x3p": ".x3p", "sdf": ".sdf"}
#: extra writer arguments per format (float32 where the format allows it)
WRITE_KW: dict[str, dict[str, Any]] = {"x3p": {"dtype": "F"}, "sdf": {"binary": True}}

# ---------------------------------------------------------------------------- the model


def form(**terms: float) -> tuple[float, ...]:
    """37 Fringe coefficients (nm, rms) from keywords ``Z4=1.2, Z5=0.3, ...``."""
    c = [0.0] * S.N_FRINGE
    for k, v in terms.items():
        c[int(k[1:]) - 1] = float(v)
    return tuple(c)


def _high_order(seed: int, scale_nm: float) -> dict[str, float]:
    """Small Z12..Z37 terms (polishing leaves some of everything), falling with order."""
    rng = np.random.default_rng(seed)
    out = {}
    for j in range(12, S.N_FRINGE + 1):
        n, _ = metrology.fringe_to_order(j)
        out[f"Z{j}"] = round(float(rng.normal(0.0, scale_nm * 4.0 / n)), 4)
    return out


#: mid-spatial-frequency structure of a well-polished CaF2 surface: PSD2 = 0.0025 f^-3
MSF = S.RandomComponent(0.0025, 3.0, 0.1, name="MSF (polishing)")
#: roughness: PSD2 = 0.0003 f^-2
ROUGH = S.RandomComponent(0.0003, 2.0, 0.1, name="roughness")
#: extra roughness of a coarser slurry: PSD2 = 2.74e-4 f^-1.5 (20-500 /mm RMS ~ 0.25 nm)
SLURRY = S.RandomComponent(2.74e-4, 1.5, 0.1, name="roughness, coarse slurry")
#: mid-spatial structure of a sub-aperture tool between the Fizeau's and the 5x's ranges:
#: PSD2 = 2.625e-3 f^-2 on 0.7-3 /mm (RMS 0.155 nm there; 0.6-3 /mm composite band 0.219 nm)
BRIDGE = S.RandomComponent(2.625e-3, 2.0, 0.7, 3.0, name="MSF, sub-aperture tool")

FIZEAU = S.FizeauSetup()
#: the 5x repeats of part h: a fast, noisier acquisition: white 0.06 nm plus vibration noise
#: of areal PSD 1e-5 f^-1 nm^2 mm^2 for 0.5 <= |f| < 40 /mm, independent in every repeat
REPEAT_NOISE: dict[str, Any] = {
    "noise_rms_nm": 0.06,
    "noise_components": (S.RandomComponent(1e-5, 1.0, 0.5, 40.0, name="vibration noise"),)}
CSI5X = dict(objective="5x", shape=(200, 200), dx_mm=0.014, noise_rms_nm=0.02)
CSI50X = dict(objective="50x", shape=(200, 200), dx_mm=0.0009, noise_rms_nm=0.01)


@dataclass(frozen=True)
class Part:
    """One shipped part: a surface and how it was measured."""

    name: str
    prefix: str
    description: str
    seed: int
    surface: S.Surface
    sites_mm: tuple[tuple[float, float], ...]
    formats: dict[str, str]  # measurement -> format name (per site: "datx,x3p,datx")
    fizeau: S.FizeauSetup = FIZEAU
    csi5x: dict[str, Any] = field(default_factory=lambda: dict(CSI5X))
    csi50x: dict[str, Any] = field(default_factory=lambda: dict(CSI50X))
    csi_dropout_fraction: float = 0.0
    date: str = "2025-03-10"
    notes: str = ""
    #: the first 5x site measured this many times (0: once), with these set-up changes
    csi5x_repeats: int = 0
    repeat_setup: dict[str, Any] = field(default_factory=dict)
    #: white noise of the calibrated reference map of the 5x objective (when its set-up
    #: has reference_marks), nm
    reference_noise_nm: float = 0.005


def _surface(zernike: dict[str, float], seed: int, hi_scale: float = 0.03,
             random: tuple[S.RandomComponent, ...] = (MSF, ROUGH),
             marks: tuple = ()) -> S.Surface:
    return S.Surface(form(**{**_high_order(seed, hi_scale), **zernike}), random, marks)


PARTS: tuple[Part, ...] = (
    Part("part-a-pass", "l3s2-a",
         "Good part: moderate form, polishing MSF and roughness well inside every limit.",
         101,
         _surface(dict(Z4=1.2, Z5=0.25, Z6=-0.12, Z7=0.10, Z8=0.08, Z9=0.12, Z10=0.06,
                       Z11=-0.05), 101),
         ((12.0, -8.0), (-15.0, 10.0), (4.0, 20.0)),
         {"fizeau": "x3p", "csi-5x": "datx", "csi-50x": "x3p"}),
    Part("part-b-pass", "l3s2-b",
         "Good part with a faint raster tool mark (0.25 mm period) in the 5x band; "
         "MetroPro Fizeau map, x3p 50x maps.",
         202,
         _surface(dict(Z4=-1.8, Z5=-0.18, Z6=0.20, Z7=-0.12, Z8=0.15, Z9=-0.10, Z10=0.08,
                       Z11=0.10), 202,
                  marks=(S.RasterRipple(0.25, 30.0, 0.08),)),
         ((-10.0, -12.0), (18.0, 6.0), (-3.0, 17.0)),
         {"fizeau": "metropro", "csi-5x": "metropro", "csi-50x": "x3p"},
         csi_dropout_fraction=0.003),
    Part("part-c-astigmatism", "l3s2-c",
         "Fails astigmatism: |Z5, Z6| = 0.55 nm against 0.40 nm; everything else passes.",
         303,
         _surface(dict(Z4=0.8, Z5=0.45, Z6=-0.3162, Z7=0.03, Z8=-0.04, Z9=0.05, Z10=0.03,
                       Z11=0.02), 303, hi_scale=0.015),
         ((14.0, 9.0), (-12.0, -14.0), (-19.0, 5.0)),
         {"fizeau": "metropro", "csi-5x": "datx", "csi-50x": "metropro"}),
    Part("part-d-msf-toolmark", "l3s2-d",
         "Fails mid-spatial frequencies: turning rings of 2 mm period, 0.6 nm amplitude "
         "(MSF1 RMS, MSF1 slope and the PSD line on the Fizeau map).",
         404,
         _surface(dict(Z4=0.6, Z5=0.12, Z6=0.08, Z7=-0.06, Z8=0.05, Z9=0.05, Z10=0.03,
                       Z11=-0.04), 404, hi_scale=0.015,
                  marks=(S.TurningRipple(2.0, 0.6),)),
         ((11.0, 11.0), (-16.0, -6.0), (2.0, -19.0)),
         {"fizeau": "metropro", "csi-5x": "datx", "csi-50x": "sdf,x3p,x3p"}),
    Part("part-e-hsf-roughness", "l3s2-e",
         "Fails high-spatial-frequency roughness: a coarse-slurry component raises the "
         "20-500 /mm RMS to about 0.25 nm (limit 0.20) and the PSD above the line.",
         505,
         _surface(dict(Z4=1.5, Z5=-0.20, Z6=-0.10, Z7=0.08, Z8=0.10, Z9=-0.14, Z10=-0.05,
                       Z11=0.07), 505, random=(MSF, ROUGH, SLURRY)),
         ((8.0, -15.0), (-14.0, 12.0), (19.0, 7.0)),
         {"fizeau": "metropro", "csi-5x": "x3p", "csi-50x": "datx"}),
    Part("part-f-hsf-undersampled", "l3s2-f",
         "Good surface, but the 50x maps were taken at 1.5 um pixels (Nyquist 333 /mm < "
         "500 /mm): HSF and its PSD line are not measurable, part verdict not-measurable.",
         606,
         _surface(dict(Z4=-0.9, Z5=0.15, Z6=0.22, Z7=0.07, Z8=-0.09, Z9=0.08, Z10=-0.06,
                       Z11=0.05), 606),
         ((13.0, 4.0), (-9.0, 15.0), (-6.0, -18.0)),
         {"fizeau": "x3p", "csi-5x": "metropro", "csi-50x": "x3p"},
         csi50x={**CSI50X, "dx_mm": 0.0015}),
    Part("part-g-fizeau-dropouts", "l3s2-g",
         "Good part whose Fizeau map lost 30 % of the pixels inside the aperture "
         "(dropouts are interpolated before the PSD criteria); passes.",
         707,
         _surface(dict(Z4=2.0, Z5=0.20, Z6=0.15, Z7=-0.09, Z8=-0.07, Z9=0.11, Z10=0.05,
                       Z11=0.06), 707),
         ((-13.0, -9.0), (16.0, -10.0), (0.0, 16.0)),
         {"fizeau": "metropro", "csi-5x": "x3p", "csi-50x": "metropro"},
         fizeau=replace(FIZEAU, dropout_fraction=0.30)),
    Part("part-h-msf-bridge", "l3s2-h",
         "Fails the full-band composite: a sub-aperture tool left mid-spatial structure at "
         "0.7-3 /mm, between the Fizeau's and the 5x's ranges; the composite band MSF-bridge "
         "(0.6-3 /mm, which no single instrument resolves) fails in RMS and slope while "
         "every single-instrument band passes. All files x3p.",
         808,
         _surface(dict(Z4=1.0, Z5=0.15, Z6=0.10, Z7=-0.08, Z8=0.06, Z9=0.10, Z10=-0.05,
                       Z11=0.04), 808, random=(MSF, ROUGH, BRIDGE)),
         ((10.0, 14.0), (-17.0, -3.0), (6.0, -16.0)),
         {"fizeau": "x3p", "csi-5x": "x3p", "csi-50x": "x3p"}),
    Part("part-i-repeats", "l3s2-i",
         "Good part; its first 5x site measured 4 times (repeats with independent noise of "
         "known PSD, averaged by the check, noise floor from their differences) and every 5x "
         "map carries the objective's reference error, removed with the calibrated reference "
         "file; passes.",
         909,
         _surface(dict(Z4=1.0, Z5=0.18, Z6=0.10, Z7=-0.08, Z8=0.06, Z9=-0.09, Z10=0.04,
                       Z11=-0.05), 909),
         ((9.0, 13.0), (-17.0, -3.0), (5.0, -18.0)),
         {"fizeau": "x3p", "csi-5x": "x3p", "csi-50x": "x3p"},
         csi5x={**CSI5X, "reference_marks": (S.RasterRipple(0.1, 0.0, 0.3),)},
         csi5x_repeats=4, repeat_setup=REPEAT_NOISE),
)

# ---------------------------------------------------------------------------- determinism


@contextlib.contextmanager
def source_date_epoch(timestamp: str) -> Iterator[None]:
    """``SOURCE_DATE_EPOCH`` set to ``timestamp`` (ISO 8601) for the duration of the block.

    The format writers of :mod:`metrology.io` then use that instant instead of
    the current time and derive their identifiers from the content
    (reproducible-builds.org convention); nothing of theirs is patched.
    """
    old = os.environ.get("SOURCE_DATE_EPOCH")
    os.environ["SOURCE_DATE_EPOCH"] = str(int(_dt.datetime.fromisoformat(timestamp).timestamp()))
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("SOURCE_DATE_EPOCH", None)
        else:
            os.environ["SOURCE_DATE_EPOCH"] = old


# ---------------------------------------------------------------------------- one file


@dataclass
class FileJob:
    """Everything needed to make one file of a part."""

    part: Part
    measurement: str  # spec measurement name
    site: int  # 0 for the Fizeau map, 1..3 for microscope sites
    fmt: str
    repeat: int | None = None  # k of a repeat (``_rep<k>``), None for a single map
    reference: bool = False  # the calibrated reference map of the measurement

    @property
    def name(self) -> str:
        tag = TAGS[self.measurement]
        if self.reference:
            return f"{self.part.prefix}_{tag}_reference" + EXT[self.fmt]
        stem = (f"{self.part.prefix}_{tag}" if self.measurement == "fizeau"
                else f"{self.part.prefix}_{tag}_site{self.site}")
        if self.repeat is not None:
            stem += f"_rep{self.repeat}"
        return stem + EXT[self.fmt]

    @property
    def seed(self) -> list[int]:
        if self.reference:
            return [self.part.seed, list(TAGS).index(self.measurement), 99]
        return [self.part.seed, list(TAGS).index(self.measurement), self.site]

    @property
    def timestamp(self) -> str:
        k = list(TAGS).index(self.measurement)
        minute = 10 * k + 3 * self.site
        sec = 0 if self.repeat is None else 10 * self.repeat
        return f"{self.part.date}T09:{minute:02d}:{sec:02d}+00:00"

    def setup(self) -> S.FizeauSetup | S.MicroscopeSetup:
        if self.measurement == "fizeau":
            return self.part.fizeau
        kw = self.part.csi5x if self.measurement == "csi-5x" else self.part.csi50x
        if self.repeat is not None:
            kw = {**kw, **self.part.repeat_setup}
        return S.MicroscopeSetup(site_mm=self.part.sites_mm[max(self.site, 1) - 1],
                                 dropout_fraction=self.part.csi_dropout_fraction, **kw)

    def synthesize(self) -> S.SyntheticMeasurement:
        meta = {"timestamp": self.timestamp, "part": self.part.name,
                "synthetic": "metrology.synth (see the .truth.json sidecar)"}
        st = self.setup()
        if self.reference:
            assert isinstance(st, S.MicroscopeSetup)
            ref = S.reference_map(st, self.seed, self.part.reference_noise_nm, meta)
            return S.SyntheticMeasurement(ref, ref, (0.0, 0.0), {
                "reference_noise_rms_nm": self.part.reference_noise_nm})
        if isinstance(st, S.FizeauSetup):
            return S.measure_fizeau(self.part.surface, st, self.seed, meta)
        return S.measure_microscope(self.part.surface, st, self.seed, meta,
                                    repeat=self.repeat)


def jobs(part: Part) -> list[FileJob]:
    """The files of a part: one Fizeau map and three sites of each microscope (the first
    5x site ``csi5x_repeats`` times), and the 5x reference map when the 5x set-up has a
    reference error."""
    out = [FileJob(part, "fizeau", 0, part.formats["fizeau"])]
    for meas in ("csi-5x", "csi-50x"):
        fmts = part.formats[meas].split(",")
        for i in range(1, len(part.sites_mm) + 1):
            fmt = fmts[(i - 1) % len(fmts)]
            if meas == "csi-5x" and i == 1 and part.csi5x_repeats:
                out += [FileJob(part, meas, i, fmt, repeat=k)
                        for k in range(1, part.csi5x_repeats + 1)]
            else:
                out.append(FileJob(part, meas, i, fmt))
        if meas == "csi-5x" and part.csi5x.get("reference_marks"):
            out.append(FileJob(part, meas, 0, fmts[0], reference=True))
    return out


def n_sites(js: list[FileJob]) -> dict[str, int]:
    """Sites per measurement (repeats of one site count once, references not at all)."""
    return {m: len({j.site for j in js if j.measurement == m and not j.reference})
            for m in TAGS}


def write_data(job: FileJob, hm: HeightMap, folder: Path) -> Path:
    """Write the measured map of ``job`` into ``folder`` reproducibly."""
    path = folder / job.name
    kw = dict(WRITE_KW.get(job.fmt, {}))
    if job.fmt == "datx":
        kw["guid_key"] = f"{job.part.name}/{job.name}"
    with source_date_epoch(job.timestamp):
        metrology.save(hm, path, format=job.fmt, **kw)
    return path


# ---------------------------------------------------------------------------- truth


def _worst(verdicts: list[str]) -> str:
    return str(worst(verdicts))


def reference_sidecar(job: FileJob, sm: S.SyntheticMeasurement,
                      stored: HeightMap | None = None) -> dict[str, Any]:
    """The ``.truth.json`` of a calibrated reference map: what it holds, no criteria."""
    st = job.setup()
    quant = None
    if stored is not None:
        both = stored.valid & sm.measured.valid
        quant = float(np.max(np.abs(stored.z_nm[both] - sm.measured.z_nm[both])))
    return jsonable({
        "schema": TRUTH_SCHEMA, "file": job.name, "part": job.part.name,
        "measurement": job.measurement, "format": job.fmt, "role": "reference",
        "description": "calibrated reference (system error) map of the 5x objective: its "
                       "reference error (reference_marks, field coordinates) plus the "
                       "calibration's white noise; every 5x map of the part carries the "
                       "error and the check subtracts this map",
        "grid": {"shape": list(sm.measured.shape), "dx_mm": sm.measured.dx_mm,
                 "dy_mm": sm.measured.dy_mm},
        "generator": {"module": "metrology.synth", "seed": job.seed,
                      "reference_marks": [_asdict_mark(m) for m in st.reference_marks],
                      "calibration_noise_rms_nm": job.part.reference_noise_nm,
                      "storage_max_abs_error_nm": quant},
    })


def _setup_dict(st: Any) -> dict[str, Any]:
    """The set-up's fields for a sidecar (the optional noise components and reference
    marks only when the set-up has them)."""
    return {k: v for k, v in asdict(st).items()
            if not (k in ("noise_components", "reference_marks") and not v)}


def _asdict_mark(m: Any) -> dict[str, Any]:
    d = asdict(m)
    d["frame"] = "field coordinates (mm from the field centre)"
    return d


def truth_sidecar(job: FileJob, sm: S.SyntheticMeasurement, spec: Any, n_sites: int,
                  stored: HeightMap | None = None) -> dict[str, Any]:
    """The ``.truth.json`` content of one file: the truth from the generator's parameters."""
    if job.reference:
        return reference_sidecar(job, sm, stored)
    ev = S.expected_values(job.part.surface, job.setup(), spec, job.measurement,
                           measured_valid=sm.measured.valid, n_sites=n_sites)
    zinfo = ev.pop("_zernike")
    crits = dict(ev)
    failing = [cid for cid, d in crits.items() if d["verdict"] == "fail"]
    nm = [cid for cid, d in crits.items() if d["verdict"] == "not-measurable"]
    bands = {}
    for b in spec.bands:
        if b.measurement != job.measurement:
            continue
        rid = f"{b.measurement}.band.{b.name}.rms"
        sid = f"{b.measurement}.band.{b.name}.slope"
        d = {"kind": b.kind, "f_lo_per_mm": b.f_lo_per_mm, "f_hi_per_mm": b.f_hi_per_mm,
             "rms_nm": crits[rid]["value"] if rid in crits else None}
        if sid in crits:
            d["slope_urad"] = crits[sid]["value"]
        if rid in crits and crits[rid]["reason"]:
            d["not_measurable_reason"] = crits[rid]["reason"]
        bands[b.name] = d
    surf = job.part.surface
    zern: dict[str, Any] = {"scheme": "fringe", "normalisation": "rms",
                            "r_norm_mm": surf.r_norm_mm, "centre_mm": [0.0, 0.0],
                            "frame": "part coordinates (the Fizeau map's centre)"}
    if job.measurement == "fizeau":
        coef = list(surf.zernike_fringe_nm)
        for k, v in enumerate(job.part.fizeau.alignment_nm):
            coef[k] += v
        zern["input_nm"] = {f"Z{j + 1}": c for j, c in enumerate(coef)}
        zern["input_note"] = ("form of the surface plus the alignment piston/tilt of this "
                              "map (Z1-Z3)")
        zern["model_nm"] = zinfo["model_fringe_nm"]
        zern["sigma_nm"] = zinfo["sigma_nm"]
        zern["model_note"] = ("what a fit over the clear aperture about the true centre "
                              "should give: the form put in plus what the tool marks project "
                              "onto each term; sigma_nm is the RMS of what the random part "
                              "projects there (Noll's Fourier transform of the terms), the "
                              "scatter of a realisation about the model")
    else:
        zern["input_nm"] = {f"Z{j + 1}": c for j, c in enumerate(surf.zernike_fringe_nm)}
        zern["input_note"] = ("form of the whole surface; this measurement has no Zernike "
                              "criterion (its site sees only a local patch of the form)")
    st = job.setup()
    quant = None
    if stored is not None:
        both = stored.valid & sm.measured.valid
        quant = float(np.max(np.abs(stored.z_nm[both] - sm.measured.z_nm[both])))
    extra: dict[str, Any] = {}
    if job.repeat is not None:
        n = job.part.csi5x_repeats
        extra["repeat"] = {
            "k": job.repeat, "of": n,
            "site": job.name.replace(f"_rep{job.repeat}.", "_rep<k>."),
            "note": "one of n repeats of one measurement: the same surface realisation, its "
                    "own noise; the check averages the n files into one site, whose truth "
                    "is 'criteria' (the surface's, as for any map)"}
    if isinstance(st, S.MicroscopeSetup) and job.part.csi5x_repeats and \
            job.measurement == "csi-5x":
        nb = {}
        for b in spec.bands:
            if b.measurement == job.measurement and b.kind == "areal":
                v1 = S.noise_band_variance_nm2(st, b.f_lo_per_mm, b.f_hi_per_mm)
                nb[b.name] = {"one_map_nm": math.sqrt(v1),
                              "average_nm": math.sqrt(v1 / (job.part.csi5x_repeats
                                                            if job.repeat else 1))}
        extra["noise_floor"] = {
            "bands": nb,
            "how": "the set-up's noise from its parameters: white sigma^2 x (cells of the band "
                   "/ cells of the grid) plus the coloured components' PSD summed over the "
                   "band's cells; for a repeat also that of the average of the n repeats "
                   "(variance / n)"}
    if isinstance(st, S.MicroscopeSetup) and st.reference_marks:
        extra["reference_error"] = {
            "marks": [_asdict_mark(m) for m in st.reference_marks],
            "note": "added to this map (the instrument's reference error), not part of the "
                    "surface: the truth assumes the calibrated reference map is subtracted"}
    return jsonable({
        "schema": TRUTH_SCHEMA,
        "file": job.name,
        "part": job.part.name,
        "measurement": job.measurement,
        "format": job.fmt,
        **extra,
        "expected_verdict": _worst([d["verdict"] for d in crits.values()]),
        "failing_criteria": failing,
        "not_measurable_criteria": nm,
        "criteria": crits,
        "bands": bands,
        "zernike": zern,
        "form_residual_rms_nm": zinfo["residual_rms_nm"] if job.measurement == "fizeau"
        else None,
        "grid": {"shape": list(sm.measured.shape), "dx_mm": sm.measured.dx_mm,
                 "dy_mm": sm.measured.dy_mm, "centre_on_part_mm": list(sm.origin_mm),
                 "resolved_range_per_mm": zinfo["resolved_range_per_mm"]},
        "generator": {"module": "metrology.synth", "seed": job.seed,
                      "setup": {"type": type(st).__name__, **_setup_dict(st)},
                      "surface": surf.to_dict(), "realised": sm.stats,
                      "storage_max_abs_error_nm": quant},
        "how": ("truth = metrology.synth.expected_values from the generator's parameters: "
                "requirements from the set-up's grid and the file's mask; Zernike terms from "
                "the coefficients put in plus the tool marks' projection; residual RMS from "
                "the random part's variance on the grid less what the joint fit absorbs; "
                "band RMS and slope from the power laws over the band plus the marks in it; "
                "the PSD limit from the model profile PSD per log bin. No map is analysed. "
                "Verdicts = truth against the spec limits."),
    })


def part_truth(part: Part, spec: Any) -> dict[str, dict[str, Any]]:
    """The truth of the part-level criteria (composite PSD, scatter) from the generator."""
    setups: dict[str, list[Any]] = {}
    for j in jobs(part):
        setups.setdefault(j.measurement, []).append(j.setup())
    return SF.expected_part_values(part.surface, spec, setups)


def part_summary(part: Part, sidecars: list[dict[str, Any]], spec: Any) -> dict[str, Any]:
    """The ``part.json`` content: expected part verdict and which criteria decide it."""
    per_crit: dict[str, list[str]] = {}
    for sc in sidecars:
        for cid, d in sc.get("criteria", {}).items():
            per_crit.setdefault(cid, []).append(d["verdict"])
    crit_verdict = {cid: _worst(v) for cid, v in per_crit.items()}
    composite = part_truth(part, spec)
    crit_verdict.update({cid: d["verdict"] for cid, d in composite.items()})
    missing = [c.id for c in spec.criteria if c.id not in crit_verdict]
    for cid in missing:  # a measurement with no file: not measurable
        crit_verdict[cid] = Verdict.NOT_MEASURABLE.value
    verdict = _worst(list(crit_verdict.values()))
    return jsonable({
        "schema": PART_SCHEMA,
        "part": part.name,
        "description": part.description,
        "spec": "../../specs/" + SPEC_PATH.name,
        "expected_verdict": verdict,
        "expected_exit_code": int(exit_code_for(verdict)),
        "failing_criteria": [c for c, v in crit_verdict.items() if v == "fail"],
        "not_measurable_criteria": [c for c, v in crit_verdict.items()
                                    if v == "not-measurable"],
        "criteria": crit_verdict,
        "part_criteria": composite,
        "files": [sc["file"] for sc in sidecars],
        **_repeats_and_references(sidecars),
        "model_bands": {m: S.model_expectations(part.surface, spec, m) for m in TAGS},
        "surface": part.surface.to_dict(),
        "sites_mm": [list(s) for s in part.sites_mm],
        "notes": part.notes,
    })


def _repeats_and_references(sidecars: list[dict[str, Any]]) -> dict[str, Any]:
    """part.json's ``repeats`` (site -> its files) and ``references`` (measurement -> file),
    only for a part that has them."""
    rep: dict[str, list[str]] = {}
    for sc in sidecars:
        if "repeat" in sc:
            rep.setdefault(sc["repeat"]["site"], []).append(sc["file"])
    refs = {sc["measurement"]: sc["file"] for sc in sidecars if sc.get("role") == "reference"}
    return {**({"repeats": rep} if rep else {}), **({"references": refs} if refs else {})}


def _dump(obj: Any, path: Path) -> None:
    path.write_text(json.dumps(obj, indent=1, allow_nan=False) + "\n", encoding="utf-8")


def build_file(job: FileJob, folder: Path, spec: Any, n_sites: int) -> dict[str, Any]:
    """Synthesise, write and describe one file; returns its sidecar content."""
    sm = job.synthesize()
    path = write_data(job, sm.measured, folder)
    stored = metrology.load(path)
    sidecar = truth_sidecar(job, sm, spec, n_sites, stored)
    _dump(sidecar, folder / (job.name + ".truth.json"))
    return sidecar


def build_part(part: Part, out_root: Path = PARTS_DIR, spec: Any = None, *,
               truth_only: bool = False) -> Path:
    """Write one part folder (data files, sidecars, part.json); returns the folder.

    ``truth_only``: keep the data files there are and rewrite only the sidecars and
    ``part.json`` (the data files are rebuilt in a temporary folder to measure their
    storage error); for a change of the truth's definitions.
    """
    spec = spec or metrology.load_spec(SPEC_PATH)
    folder = out_root / part.name
    js = jobs(part)
    sites = n_sites(js)
    if truth_only:
        missing = [j.name for j in js if not (folder / j.name).is_file()]
        if missing:
            raise FileNotFoundError(f"{folder}: no data file {missing[0]}; build it first")
        with tempfile.TemporaryDirectory() as tmp:
            sidecars = [build_file(j, Path(tmp), spec, sites[j.measurement]) for j in js]
        for j, sc in zip(js, sidecars, strict=True):
            _dump(sc, folder / (j.name + ".truth.json"))
    else:
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        sidecars = [build_file(j, folder, spec, sites[j.measurement]) for j in js]
    _dump(part_summary(part, sidecars, spec), folder / "part.json")
    return folder


def part_by_name(name: str) -> Part:
    for p in PARTS:
        if p.name == name:
            return p
    raise KeyError(f"no part {name!r}; known: {', '.join(p.name for p in PARTS)}")


def _digest(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("parts", nargs="*", help="part names (default: all)")
    ap.add_argument("--check", action="store_true",
                    help="rebuild into a temporary folder and compare with datasets/parts")
    ap.add_argument("--truth-only", action="store_true",
                    help="rewrite only the .truth.json sidecars and part.json, keep the data "
                    "files")
    args = ap.parse_args(argv)
    todo = [part_by_name(n) for n in args.parts] if args.parts else list(PARTS)
    spec = metrology.load_spec(SPEC_PATH)
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            bad = 0
            for p in todo:
                new = build_part(p, Path(tmp), spec)
                old = PARTS_DIR / p.name
                a, b = _digest(old), _digest(new)
                diff = sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k))
                print(f"{p.name}: {'identical' if not diff else 'DIFFERS: ' + ', '.join(diff)}")
                bad += bool(diff)
            return 1 if bad else 0
    if not args.parts and not args.truth_only:
        for stale in (PARTS_DIR.iterdir() if PARTS_DIR.exists() else ()):
            if stale.is_dir() and stale.name not in {p.name for p in PARTS}:
                shutil.rmtree(stale)
    for p in todo:
        folder = build_part(p, PARTS_DIR, spec, truth_only=args.truth_only)
        pj = json.loads((folder / "part.json").read_text())
        print(f"{p.name}: expected {pj['expected_verdict']}"
              + (f" (fail: {', '.join(pj['failing_criteria'])})" if pj["failing_criteria"]
                 else "")
              + (f" (not measurable: {', '.join(pj['not_measurable_criteria'])})"
                 if pj["not_measurable_criteria"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
