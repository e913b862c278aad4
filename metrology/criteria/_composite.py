"""What the criteria on a composite PSD share: its recipe, one build per part, the evidence.

A criterion with ``measurement = "composite"`` (a band, the PSD limit line, a
scatter limit) is judged once per part (:meth:`Criterion.evaluate_part`) on
the composite PSD of every file of the part (:func:`metrology.composite.composite_psd`):

* each file contributes the 2-D PSD the pipeline computed for it
  (:class:`metrology.pipeline.SpectrumRecord`: the measurement's form residual,
  dropouts inside its aperture interpolated, Hann window), with the valid mask
  of that map, so it serves the composite only inside its own trustworthy range
  (:func:`metrology.coverage.resolved_range`: from ``f_min_k / L`` of its
  connected valid regions to its Nyquist frequency, lowered by the
  measurement's ``itf_cutoff_per_mm`` or where dividing out its tabulated ITF
  would exceed ``itf_max_psd_correction``);
* the files of one measurement are its sites (averaged in the PSD domain with
  their spread kept); measurements are combined per bin by the spec's
  ``[composite] combine`` rule; overlaps disagreeing by more than
  ``overlap_factor`` are flagged (``strict_overlap``: not measurable);
* a file the pipeline could not analyse, or whose PSD failed, does not
  contribute; the evidence names it and why.

A scatter criterion may instead name one measurement: then the composite of
that measurement's files alone (its sites) is used, with the same rules.

The composite of a part is built once per recipe (kind, axis, contributing
measurements and options) and shared by the criteria that need it.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from ..errors import MetrologyError
from ..spec.model import COMPOSITE, Band, CompositeOptions, ItfTable
from ..verdicts import Verdict
from ._base import PSD, Criterion, Evidence, SiteValue, figure_field

if TYPE_CHECKING:  # pragma: no cover
    from ..composite import CompositePSD
    from ..pipeline import FileAnalysis
    from ..spec.schema import SpecDraft

__all__ = ["CompositeRecipe", "CompositeBuild", "build_composite", "recipe_for",
           "served_text", "CompositeEvidenceMixin", "CompositeBandEvidence",
           "CompositeCriterionBase", "CompositeBandCriterionBase", "COMPOSITE"]


@dataclass(frozen=True)
class CompositeRecipe:
    """Everything a composite PSD of a part depends on besides its files.

    ``kind`` "radial" (areal bands, areal / radial lines, scatter) or "profile"
    (profile bands and lines, along ``axis``); ``measurements`` the measurements
    whose files contribute; ``itf`` per measurement (name, cut-off, table).
    """

    kind: str
    axis: str | None
    measurements: tuple[str, ...]
    itf: tuple[tuple[str, float | None, ItfTable | None], ...]
    combine: str
    overlap_factor: float
    strict_overlap: bool
    bins_per_decade: int
    f_min_k: float
    #: "composite" (every contributing measurement) or the one measurement named
    scope: str = COMPOSITE

    @property
    def key(self) -> str:
        """Name of this composite in reports: ``radial``, ``profile-x``, ``radial@csi-50x``."""
        base = self.kind if self.kind == "radial" else f"{self.kind}-{self.axis}"
        return base if self.scope == COMPOSITE else f"{base}@{self.scope}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, "axis": self.axis,
                "measurements": list(self.measurements), "combine": self.combine,
                "overlap_factor": self.overlap_factor, "strict_overlap": self.strict_overlap,
                "bins_per_decade": self.bins_per_decade, "f_min_k": self.f_min_k,
                "itf": {n: {"cutoff_per_mm": c,
                            "table": None if t is None else {
                                "f_per_mm": list(t.f_per_mm), "values": list(t.values),
                                "max_psd_correction": t.max_psd_correction}}
                        for n, c, t in self.itf}}


def recipe_for(draft: SpecDraft, *, kind: str, axis: str | None,
               scope: str = COMPOSITE) -> CompositeRecipe:
    """The recipe of a criterion of the spec being read (``scope``: ``"composite"`` or one
    measurement's name)."""
    opts: CompositeOptions = draft.composite
    if scope == COMPOSITE:
        names = opts.measurements or tuple(draft.measurements)
    else:
        names = (scope,)
    itf = tuple((n, draft.measurements[n].itf_cutoff_per_mm, draft.measurements[n].itf)
                for n in names if n in draft.measurements)
    return CompositeRecipe(kind=kind, axis=axis if kind == "profile" else None,
                           measurements=tuple(names), itf=itf, combine=opts.combine,
                           overlap_factor=opts.overlap_factor,
                           strict_overlap=opts.strict_overlap,
                           bins_per_decade=opts.bins_per_decade, f_min_k=opts.f_min_k,
                           scope=scope)


@dataclass(frozen=True, eq=False)
class CompositeBuild:
    """One composite of a part: the PSD (or why there is none) and what went into it."""

    recipe: CompositeRecipe
    psd: CompositePSD | None
    files: tuple[tuple[str, str], ...]          # (file name, measurement) used
    excluded: tuple[tuple[str, str], ...]       # (file name, why not used)
    error: str = ""
    filled: tuple[int, ...] = ()                # dropout pixels interpolated, per used file

    @property
    def label(self) -> str:
        """The SiteValue ``file`` of a composite result."""
        return f"composite of {len(self.files)} file{'s' if len(self.files) != 1 else ''}" + (
            "" if self.recipe.scope == COMPOSITE else f" ({self.recipe.scope})")

    def fill_text(self) -> str:
        """Files whose dropouts were interpolated before their PSD ("" when none)."""
        bits = [f"{f} {n} px" for (f, _), n in zip(self.files, self.filled, strict=True) if n]
        return ("dropouts interpolated (the fill attenuates a PSD towards its Nyquist "
                "frequency): " + ", ".join(bits)) if bits else ""

    def inputs_text(self) -> str:
        """Which files served, per measurement, and which did not, in words."""
        per: dict[str, int] = {}
        for _, m in self.files:
            per[m] = per.get(m, 0) + 1
        txt = ", ".join(f"{m} x{n}" for m, n in per.items()) or "no file"
        if self.excluded:
            txt += "; not used: " + "; ".join(f"{f} ({why})" for f, why in self.excluded)
        return txt


#: composites built for the part being checked: key -> (weak refs to its analyses, build)
_BUILDS: dict[tuple[Any, ...], tuple[tuple[weakref.ref, ...], CompositeBuild]] = {}


def build_composite(recipe: CompositeRecipe, analyses: Sequence[FileAnalysis]
                    ) -> CompositeBuild:
    """The composite PSD of ``analyses`` under ``recipe`` (built once per part and recipe)."""
    key = (recipe, tuple(id(fa) for fa in analyses))
    for k in [k for k, (refs, _) in _BUILDS.items() if any(r() is None for r in refs)]:
        del _BUILDS[k]          # analyses of an earlier part are gone: never reuse their ids
    hit = _BUILDS.get(key)
    if hit is not None and all(r() is fa for r, fa in zip(hit[0], analyses, strict=True)):
        return hit[1]
    out = _build(recipe, analyses)
    _BUILDS[key] = (tuple(weakref.ref(fa) for fa in analyses), out)
    return out


def _build(recipe: CompositeRecipe, analyses: Sequence[FileAnalysis]) -> CompositeBuild:
    from ..composite import Contribution, composite_psd

    itf = {n: (c, t) for n, c, t in recipe.itf}
    contribs = []
    filled: list[int] = []
    used: list[tuple[str, str]] = []
    excluded: list[tuple[str, str]] = []
    for fa in analyses:
        if fa.measurement not in recipe.measurements:
            continue
        name = Path(fa.path).name
        sp = fa.spectrum
        if getattr(fa, "data_kind", "map") == "profile":
            excluded.append((name, "a profile (1-D trace): the composite is built from areal "
                                   "maps"))
            continue
        if fa.blocked_reason:
            excluded.append((name, fa.blocked_reason))
            continue
        if sp is None or sp.psd is None or sp.valid is None:
            excluded.append((name, f"PSD not possible: {sp.error if sp is not None else None}"))
            continue
        cutoff, table = itf.get(fa.measurement, (None, None))
        contribs.append(Contribution(
            sp.psd, instrument=fa.measurement, site=name, valid=sp.valid,
            itf=None if table is None else table.to_itf(f"spec: measurement {fa.measurement}"),
            itf_cutoff_per_mm=cutoff))
        used.append((name, fa.measurement))
        filled.append(sp.filled_pixels)
    if not contribs:
        why = ("no file of the composite's measurements ("
               + ", ".join(recipe.measurements) + ") could be used")
        return CompositeBuild(recipe, None, tuple(used), tuple(excluded), why, tuple(filled))
    try:
        c = composite_psd(contribs, kind=recipe.kind, axis=recipe.axis or "x",
                          per_decade=recipe.bins_per_decade, combine=recipe.combine,
                          overlap_factor=recipe.overlap_factor,
                          strict_overlap=recipe.strict_overlap, k=recipe.f_min_k)
    except MetrologyError as exc:
        return CompositeBuild(recipe, None, tuple(used), tuple(excluded),
                              f"composite PSD not possible: {exc}", tuple(filled))
    return CompositeBuild(recipe, c, tuple(used), tuple(excluded), "", tuple(filled))


def line_display(draft: SpecDraft, kind: str) -> dict[str, Any] | None:
    """The spec's PSD limit line in the composite's kind, for the figures (``None`` without a
    line): segments ``a_nm2_mm``, ``b``, range; the pass level; what was converted."""
    line = draft.psd
    if line is None:
        return None
    want = "radial" if kind == "radial" else "profile"
    lim = line.to_limit()
    conv = lim if lim.kind == want else lim.as_kind(want)
    note = "" if lim.kind == want else (f"the spec's {line.kind} line converted to the {want} "
                                        "PSD of an isotropic surface")
    return {"segments": [{"a_nm2_mm": sg.a, "b": sg.b, "f_lo_per_mm": sg.f_lo_per_mm,
                          "f_hi_per_mm": sg.f_hi_per_mm} for sg in conv.segments],
            "factor_max": line.factor_max, "kind": want, "note": note,
            "judged_on_composite": line.measurement == COMPOSITE}


def served_text(served: Sequence[tuple[float, float, str]]) -> str:
    """``fizeau 0.6-2.1, fizeau+csi-5x 2.1-2.5 /mm``: which instrument(s) served what."""
    served = [(a, b, s) for a, b, s in served if b > a * (1 + 1e-6)]   # no rounding slivers
    if not served:
        return "no instrument"
    return ", ".join(f"{s} {a:.4g}-{b:.4g}" for a, b, s in served) + " /mm"


def segments_of(c: CompositePSD, lo: float, hi: float) -> tuple[tuple[float, float, str], ...]:
    """Consecutive bins with one source over [lo, hi] (which instrument served what)."""
    return c.served_ranges(lo, hi) if hi > lo else ()


@dataclass(frozen=True, eq=False, kw_only=True)
class CompositeEvidenceMixin(Evidence):
    """Fields every composite evidence record carries (JSON: all but the PSD object)."""

    composite: str                      # recipe key: "radial", "profile-x", "radial@csi-50x"
    files: tuple[str, ...]              # "name (measurement)" of every file that served
    excluded: tuple[str, ...]           # "name: why" of files of the recipe not used
    overlaps: tuple[str, ...]           # every overlap of two instruments, in words
    overlap_flags: tuple[str, ...]      # the flagged ones
    combine: str
    #: the spec's PSD limit line in the composite's kind (for the figure), or None
    limit_line: dict[str, Any] | None = None
    composite_psd: Any = figure_field(default=None)   # the CompositePSD, for the figures

    KIND: ClassVar[str] = "composite"


def composite_fields(b: CompositeBuild, line: dict[str, Any] | None = None) -> dict[str, Any]:
    """The :class:`CompositeEvidenceMixin` fields of a build (``line``: the criterion's
    :attr:`CompositeCriterionBase.line_display`)."""
    c = b.psd
    return dict(
        composite=b.recipe.key, limit_line=line,
        files=tuple(f"{f} ({m}{', ' + str(n) + ' px interpolated' if n else ''})"
                    for (f, m), n in zip(b.files, b.filled, strict=True)),
        excluded=tuple(f"{f}: {why}" for f, why in b.excluded),
        overlaps=() if c is None else tuple(o.message for o in c.overlaps),
        overlap_flags=() if c is None else tuple(o.message for o in c.flags),
        combine=b.recipe.combine if c is None else c.combine, composite_psd=c)


def data_text(b: CompositeBuild) -> str:
    """The evidence's ``data``: the composite and its inputs, in words."""
    what = ("radial PSD (annulus integral / width)" if b.recipe.kind == "radial" else
            f"one-sided profile PSD along {b.recipe.axis}")
    return (f"composite {what} of the part: {b.inputs_text()}; each file's PSD of its form "
            "residual (the measurement's preprocessing, dropouts interpolated, Hann window) "
            "inside its own trustworthy range")


def flags_text(c: CompositePSD | None, lo: float = 0.0, hi: float = math.inf) -> str:
    """The flagged overlaps inside [lo, hi], in words ("" when none)."""
    if c is None:
        return ""
    fl = [o for o in c.flags if o.f_lo_per_mm < hi and o.f_hi_per_mm > lo]
    return ("overlap disagreement flagged: " + "; ".join(o.message for o in fl)) if fl else ""


# --------------------------------------------------------------------------- criteria

@dataclass(frozen=True, kw_only=True)
class CompositeCriterionBase(Criterion):
    """A criterion judged once per part on a composite PSD (``recipe``)."""

    recipe: CompositeRecipe
    #: the spec's PSD line in this composite's kind, for the figures (:func:`line_display`)
    line_display: dict[str, Any] | None = None

    def requests(self) -> Sequence[str]:
        return (PSD,)

    def evaluate(self, analysis: FileAnalysis) -> SiteValue:  # pragma: no cover - by design
        raise MetrologyError(f"{self.id} is judged on the part's composite PSD "
                             "(evaluate_part), not on one file")

    def composite_site(self, analyses: Sequence[FileAnalysis]
                       ) -> tuple[CompositeBuild, SiteValue | None]:
        """The build, and the not-measurable site when there is no composite at all."""
        b = build_composite(self.recipe, analyses)
        if b.psd is None:
            return b, SiteValue(b.label, None, Verdict.NOT_MEASURABLE, b.error)
        return b, None

    def composite_convention(self) -> dict[str, Any]:
        return {"composite": self.recipe.to_dict(),
                "composite_rules": (
                    "each file serves only inside its trustworthy range: f_min = f_min_k / L "
                    "(L from its connected valid regions) to its Nyquist frequency, lowered by "
                    "the measurement's ITF cut-off or where dividing out its tabulated ITF "
                    "would exceed the allowed correction; sites of one measurement averaged "
                    "in the PSD domain; measurements combined per bin by `combine`; overlaps "
                    "beyond overlap_factor flagged (docs/composite.md)"),
                "data": "PSD of each file's form residual (its measurement's preprocessing, "
                        "dropouts interpolated), Hann window"}


@dataclass(frozen=True, eq=False, kw_only=True)
class CompositeBandEvidence(CompositeEvidenceMixin):
    """A band judged on the composite: which instrument(s) served each range, gaps, flags."""

    band: str
    band_kind: str                    # "areal" or "profile" (``kind`` is the evidence's)
    direction: str | None
    f_lo_per_mm: float
    f_hi_per_mm: float
    filter: str
    support_per_mm: tuple[float, float]
    quantity: str                     # "height" (nm) or "slope" (urad)
    value: float | None               # over the served part of the support
    stderr: float | None              # its standard error (same unit)
    coverage: str                     # full / partial / none
    served: tuple[tuple[float, float, str], ...]
    gaps: tuple[tuple[float, float], ...]
    definition: str
    line_implied_rms: dict[str, Any] | None = None

    KIND: ClassVar[str] = "composite_band"


@dataclass(frozen=True, kw_only=True)
class CompositeBandCriterionBase(CompositeCriterionBase):
    """A ``[[bands]]`` entry with ``measurement = "composite"``."""

    SLOPE: ClassVar[bool] = False
    band: Band
    line_rms: dict[str, Any] | None = None

    @classmethod
    def add_all(cls, draft: SpecDraft, key: str, unit: str, what: str, rank: int) -> None:
        from ._band import BandCriterionBase

        for entry, b, lim, kind, rng in BandCriterionBase.limits(draft, key, composite=True):
            recipe = recipe_for(draft, kind="radial" if b.kind == "areal" else "profile",
                                axis=b.direction or "x")
            draft.add(cls(id=f"{COMPOSITE}.band.{b.name}.{'slope' if cls.SLOPE else 'rms'}",
                          measurement=COMPOSITE, limit=lim, unit=unit, band=b, recipe=recipe,
                          line_display=line_display(draft, recipe.kind),
                          line_rms=None if cls.SLOPE else BandCriterionBase.line_implied(draft,
                                                                                         b),
                          description=f"{b.name} {kind} {what}, {rng}, {b.filter} filter, "
                                      "on the composite PSD of the part"),
                      (*entry.path, key), entry.index, rank)

    def evaluate_part(self, analyses: Sequence[FileAnalysis]) -> list[SiteValue]:
        b = self.band
        build, nm = self.composite_site(analyses)
        if nm is not None:
            return [nm]
        c = build.psd
        assert c is not None
        if self.SLOPE:
            r = c.band_slope_rms(b.f_lo_per_mm, b.f_hi_per_mm, filter=b.filter)
            value, err = r.rms_urad, r.stderr_urad
        else:
            r = c.band_rms(b.f_lo_per_mm, b.f_hi_per_mm, filter=b.filter)
            value, err = r.rms_nm, r.stderr_nm
        ev = CompositeBandEvidence(
            data=data_text(build), **composite_fields(build, self.line_display), band=b.name,
            band_kind=b.kind,
            direction=b.direction, f_lo_per_mm=b.f_lo_per_mm, f_hi_per_mm=b.f_hi_per_mm,
            filter=r.filter, support_per_mm=(r.support_lo_per_mm, r.support_hi_per_mm),
            quantity="slope" if self.SLOPE else "height",
            value=value if math.isfinite(value) else None,
            stderr=err if math.isfinite(err) else None, coverage=r.coverage,
            served=tuple(r.served), gaps=tuple(r.gaps), definition=r.definition,
            line_implied_rms=self.line_rms)
        served = "served by " + served_text(r.served)
        if not r.measurable:
            why = r.reason or f"coverage {r.coverage}"
            if b.filter == "gaussian":
                why = (f"the Gaussian band needs {r.support_lo_per_mm:.4g}-"
                       f"{r.support_hi_per_mm:.4g} /mm: {why}")
            return [self.judge(build.label, None, f"{why} ({served})", ev)]
        notes = [t for t in (flags_text(c, r.support_lo_per_mm, r.support_hi_per_mm),
                             build.fill_text()) if t]
        from ._uncertainty import from_stderr

        return [self.judge(build.label, value, "; ".join([served, *notes]), ev,
                           from_stderr(err, "standard error of the band value"))]

    def convention(self) -> dict[str, Any]:
        from ._band import filter_convention

        b = self.band
        return {"band": b.name, "f_lo_per_mm": b.f_lo_per_mm, "f_hi_per_mm": b.f_hi_per_mm,
                "period_mm": [b.period_max_mm, b.period_min_mm], "kind": b.kind,
                "direction": b.direction, "window": "hann",
                "psd": ("composite radial PSD (annulus integral / width) of the part"
                        if b.kind == "areal" else
                        f"composite one-sided profile PSD along {b.direction or 'x'}"),
                "sidedness": ("radial: the areal band's annulus integral" if b.kind == "areal"
                              else f"one-sided profile PSD along {b.direction or 'x'}"),
                "quantity": ("RMS slope sqrt(int (2 pi f)^2 T^2 PSD df), urad" if self.SLOPE
                             else "RMS height sqrt(int T^2 PSD df), nm"),
                **filter_convention(b, self.line_rms), **self.composite_convention()}
