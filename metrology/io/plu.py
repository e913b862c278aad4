"""Sensofar ``.plu`` (PLu 2000/2006 and later; S neox, PLu neox, PLu 2300): read only.

Layout (public facts: Gwyddion's ``sensofar.c``, SurfaceTopography's
``PLU.py``; our own code). All numbers little-endian; a 500-byte header:

====== ========= ===========================================================
offset type      field
====== ========= ===========================================================
0      128 s     date, C ``ctime`` text ("Fri Mar 10 16:35:59 2023"), NUL
128    uint32    time (Unix seconds)
132    256 s     user comment
388    uint32    rows (y), columns (x), N_tall
400    float32   dy_multip, µm per pixel x, µm per pixel y, x0, y0,
                 µm per height step, z0
428    uint32    measurement type (0 image, 1 profile, 2 multi-profile,
                 3 topography, 4 coordinates, 5 thickness, 6 custom),
                 algorithm, method, objective, area type
448    40 bytes  scan settings (resolution / z range / planes, or tracking
                 settings for area type 6; same size either way)
488    uint8     restore, number of layers, version, hardware, images
493    3 bytes   reserved / padding;  496: uint32 decimation factor
====== ========= ===========================================================

Then, per layer: uint32 rows, uint32 columns, rows x columns float32
heights in µm (row by row), float32 min and max. Non-measured points are
exactly 1000001.0 (NaN is treated as invalid too). Only the first layer is
read.

The (rows, columns) pair before the heights is part of the layer: a reader
that starts the heights at byte 500 instead of 508 (surfalize 0.19 does)
takes those two integers for two heights of ~1e-42 µm, which on this
project's sample (all heights near -106 µm) turns PV 10 016 nm into
111 230 nm and RMS 2834 nm into 2843 nm. The reader checks the pair against
the header's rows and columns.

Orientation
-----------
Rows are stored top row first (camera image order): Gwyddion places stored
row i at image row i (top first) and SurfaceTopography and surfalize keep
the stored order as image order too. No Sensofar documentation is public.
The reader reverses the rows into the y-up frame
(``meta['rows_flipped'] = True``).
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..heightmap import HeightMap
from ..profile import Profile
from ._binread import BinFile, check_heights_nm, check_shape, check_spacing_mm, cstr
from ._policy import float_scaled
from ._registry import Format, register

__all__ = ["read_plu"]

HEADER_SIZE = 500
_INVALID = np.float32(1000001.0)
_DATE_RE = re.compile(rb"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|"
                      rb"Oct|Nov|Dec) [ 0-3]\d [0-2]\d:[0-5]\d:[0-6]\d \d{4}\x00")
_TYPES = {0: "image", 1: "profile", 2: "multiple profile", 3: "topography",
          4: "coordinates", 5: "thickness", 6: "custom"}
_ALGORITHMS = {0: "confocal intensity", 1: "confocal gradient", 2: "interferometric PSI",
               3: "interferometric VSI / ePSI", 4: "confocal thickness",
               5: "interferometric thickness"}


def _sniff(head: bytes) -> bool:
    return bool(_DATE_RE.match(head[:25]))


def read_plu(path: str | Path) -> HeightMap | Profile:
    """Read a Sensofar ``.plu`` topography (or profile).

    Returns
    -------
    HeightMap or Profile
        Heights in nm, rows flipped to y-up, spacing in mm (from the µm per
        pixel fields); a profile measurement (type 1) gives a Profile.
        ``meta`` adds ``plu_*`` header fields.

    Raises
    ------
    FileFormatError
        No date header, unsupported measurement type, a layer size that
        disagrees with the header or the file size, implausible values.
    """
    p = Path(path)
    with open(p, "rb") as fh:
        bf = BinFile(p, fh)
        head = bf.read(0, min(bf.size, HEADER_SIZE), "header")
        if not _sniff(head):
            raise bf.fail("does not start with a ctime date ('Fri Mar 10 16:35:59 2023'); not "
                          "a Sensofar .plu file")
        if len(head) < HEADER_SIZE:
            raise bf.fail(f"header truncated ({len(head)} of {HEADER_SIZE} bytes)")
        date = cstr(head[:128])
        (tstamp,) = np.frombuffer(head, "<u4", 1, 128)
        comment = cstr(head[132:388])
        yres, xres, n_tall = (int(v) for v in np.frombuffer(head, "<u4", 3, 388))
        dy_multip, mppx, mppy, x0, y0, mpp_tall, z0 = (
            float(v) for v in np.frombuffer(head, "<f4", 7, 400))
        mtype, algorithm, method, objective, area = (
            int(v) for v in np.frombuffer(head, "<u4", 5, 428))
        restore, nlayers, version, hardware, nimages = head[488:493]
        if mtype not in (1, 3):
            raise bf.fail(f"measurement type {mtype} ({_TYPES.get(mtype, 'unknown')}) is not a "
                          "topography (3) or profile (1)")
        if nlayers < 1:
            raise bf.fail("the header declares no data layers")
        rows, cols = bf.unpack("<II", HEADER_SIZE, "layer size")
        if (rows, cols) != (yres, xres):
            raise bf.fail(f"the layer holds {rows} x {cols} points but the header declares "
                          f"{yres} x {xres} (corrupt)")
        check_shape(bf, rows, cols, "layer")
        raw = bf.array(HEADER_SIZE + 8, rows * cols, "<f4", "heights")
    bad = ~np.isfinite(raw) | (raw == _INVALID)
    z = raw.astype(np.float64) * 1000.0
    z[bad] = np.nan
    z = z.reshape(rows, cols)[::-1].copy()
    check_heights_nm(bf, z, "heights")
    dx = check_spacing_mm(bf, float_scaled(abs(mppx), -3, single=True), "µm per pixel x")
    dy = (check_spacing_mm(bf, float_scaled(abs(mppy), -3, single=True), "µm per pixel y")
          if rows > 1 else dx)
    ts = None
    try:
        ts = _dt.datetime.strptime(re.sub(r"\s+", " ", date), "%a %b %d %H:%M:%S %Y") \
            .isoformat()
    except ValueError:
        ts = None
    meta: dict[str, Any] = {
        "format": "plu",
        "instrument": "Sensofar (confocal / interferometric profiler)",
        "software": "SensoSCAN",
        "wavelength_nm": None,
        "timestamp": ts,
        "z_unit_original": "um",
        "z_scale_to_nm": 1000.0,
        "rows_flipped": True,
        "plu_row_order": "stored top row first (image order); reversed to y-up",
        "plu_date": date,
        "plu_time": int(tstamp),
        "plu_comment": comment or None,
        "plu_measurement_type": _TYPES.get(mtype, str(mtype)),
        "plu_algorithm": _ALGORITHMS.get(algorithm, str(algorithm)),
        "plu_method": method,
        "plu_objective_code": objective,
        "plu_area_type": area,
        "plu_layers": int(nlayers),
        "plu_version": int(version),
        "plu_hardware": int(hardware),
        "plu_offsets_um": (x0, y0, z0) if all(math.isfinite(v) for v in (x0, y0, z0))
        else None,
        "plu_dy_multip": dy_multip,
        "plu_n_tall": n_tall,
        "plu_um_per_height_step": mpp_tall,
        "plu_restore": int(restore),
        "plu_images": int(nimages),
    }
    if mtype == 1:
        if rows != 1:
            raise bf.fail(f"a profile measurement with {rows} rows")
        return Profile(z[0], dx, meta)
    return HeightMap._adopt(z, dx, dy, meta)


register(Format(
    name="plu",
    extensions=(".plu", ".apx"),
    description="Sensofar .plu topography / profile (read only)",
    sniff=_sniff,
    read=read_plu,
    write=None,
    instruments=("Sensofar S neox / S lynx / PLu neox / PLu 2300", "SensoSCAN"),
))
