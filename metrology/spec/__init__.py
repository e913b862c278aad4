"""Lens specs as code: the ``metrology.spec/1`` TOML schema, its loader and validator.

A spec file declares the **measurements** of one surface (a full-aperture
Fizeau map, microscope sites, ...), how a file is recognised as each of them,
and the **criteria** each measurement is judged on. :func:`load_spec` reads and
strictly validates such a file into an immutable :class:`Spec`; the check
engine consumes :attr:`Spec.criteria`, a flat, ordered tuple of typed criteria
with stable ids.

Units are part of the key names (``rms_nm_max``, ``f_lo_per_mm``,
``period_mm``, ``diameter_mm``, ``slope_urad_max``, ``a_nm2_mm``): nm, mm,
cycles/mm and µrad as in ``docs/conventions.md``. A key without its unit, an
unknown or misspelt key, a wrong type, a negative limit, an empty band or a
reference to an undeclared measurement raises :class:`metrology.SpecError`
naming the key path (``bands[1].rms_nm_mx``, indices from 0) and the line.
The schema reference is ``docs/spec-schema.md``; the shipped examples are in
``datasets/specs/``.

Modules: :mod:`.schema` (sections and assembly), :mod:`.model` (the
validated objects), :mod:`.context` (value checks with key paths),
:mod:`.locate` (key path -> line), :mod:`.zernike_terms` (indices and term
names in specs). The criterion types are :mod:`metrology.criteria`.
"""

from __future__ import annotations

from ..criteria import Criterion
from ..criteria.band_rms import BandCriterion
from ..criteria.band_slope import BandSlopeCriterion
from ..criteria.form_residual import FormResidualCriterion
from ..criteria.power import PowerCriterion
from ..criteria.psd_limit import PsdLimitCriterion
from ..criteria.pvr import PVrCriterion
from ..criteria.requirement import RequirementCriterion
from ..criteria.zernike_other import ZernikeOtherTermsCriterion
from ..criteria.zernike_term import ZernikeTermCriterion
from .model import (
    Aperture,
    Band,
    Form,
    Match,
    Measurement,
    Part,
    Power,
    Preprocessing,
    PsdLimitLine,
    PsdSegment,
    Requirements,
    Spec,
)
from .schema import SCHEMA, SpecWarning, load_spec, parse_spec
from .zernike_terms import TERM_NAMES

__all__ = [
    "SCHEMA",
    "SpecWarning",
    "load_spec",
    "parse_spec",
    "Spec",
    "Part",
    "Match",
    "Aperture",
    "Preprocessing",
    "Requirements",
    "Measurement",
    "Band",
    "PsdSegment",
    "PsdLimitLine",
    "Form",
    "Power",
    "TERM_NAMES",
    "Criterion",
    "RequirementCriterion",
    "ZernikeTermCriterion",
    "PowerCriterion",
    "ZernikeOtherTermsCriterion",
    "FormResidualCriterion",
    "PVrCriterion",
    "BandCriterion",
    "BandSlopeCriterion",
    "PsdLimitCriterion",
]
