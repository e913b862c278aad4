"""Gwyddion ASCII exports with the header keys in Gwyddion's other languages."""

from __future__ import annotations

from pathlib import Path

import pytest

import metrology as m

# (Channel, Width, Height, Value units) as Gwyddion's catalogues translate them
LANGUAGES = {
    "en": ("Channel:", "Width:", "Height:", "Value units:"),
    "cs": ("Kan\u00e1l:", "\u0160\u00ed\u0159ka:", "V\u00fd\u0161ka:", "Jednotky hodnot:"),
    "de": ("Kanal:", "Breite:", "H\u00f6he:", "Value units:"),
    "es": ("Canal:", "Anchura:", "Altura:", "Value units:"),
    "fr": ("Canal :", "Largeur :", "Hauteur :", "Unit\u00e9s :"),
    "it": ("Canale:", "Larghezza:", "Altezza:", "unit\u00e0 valore:"),
    "ko": ("\ucc44\ub110:", "\ud3ed:", "\ub192\uc774:", "\uac12 \ub2e8\uc704:"),
    "ru": ("\u041a\u0430\u043d\u0430\u043b:", "\u0428\u0438\u0440\u0438\u043d\u0430:",
           "\u0412\u044b\u0441\u043e\u0442\u0430:",
           "\u0415\u0434\u0438\u043d\u0438\u0446\u044b \u0438\u0437\u043c\u0435\u0440\u0435"
           "\u043d\u0438\u044f:"),
}


@pytest.mark.parametrize("lang", sorted(LANGUAGES))
def test_each_language_reads_like_english(tmp_path: Path, lang: str) -> None:
    ch, w, h, vu = LANGUAGES[lang]
    f = tmp_path / f"{lang}.txt"
    f.write_text(f"# {ch} Topo\n# {w} 12.3 \u00b5m\n# {h} 16400 nm\n# {vu} nm\n"
                 "1 1.5 3\n-2 -3 -6\n0 0 0\n9 9 9\n", encoding="utf-8")
    hm = m.load(f)
    assert hm.shape == (4, 3)
    assert hm.dx_mm == pytest.approx(0.0041) and hm.dy_mm == pytest.approx(0.0041)
    assert hm.z_nm[-1].tolist() == [1.0, 1.5, 3.0]  # first line = top of the image
    assert hm.meta["z_unit_original"] == "nm"


@pytest.mark.realdata
def test_realdata_german_export(realdata) -> None:
    # a test file: heights of 9 m (value units m) are beyond the plausibility limit, and
    # non-square pixels from extents without point counts make the text reader ask for the
    # grid to be confirmed (a copy cut at a line boundary looks the same)
    f = realdata("st_gwyddion-export-german.txt")
    with pytest.raises(m.FileFormatError, match="height_nm_max"):
        m.load(f, rows=4)
    with m.io.limits(height_nm_max=1e10):
        with pytest.raises(m.FileFormatError, match="rows=4"):
            m.load(f)
        hm = m.load(f, rows=4)
    # ST: 3 x 4 [x, y], dx 0.00411333, dy 0.00141972, as the English export
    assert hm.shape == (4, 3)
    assert hm.dx_mm == pytest.approx(0.00411333, rel=1e-5)   # 12.34 um / 3
    assert hm.dy_mm == pytest.approx(0.00141972, rel=1e-5)   # 5678.9 nm / 4 = 1.419725 um
    assert hm.meta["text_header"]["width"] == "12.34 \u00b5m"
    assert hm.z_nm[-1].tolist() == [1e9, 1.5e9, 3e9]  # first line = top, value units m
