"""The HTML check report of several parts: the parts table (worst first) with one line
per part, linking to its section, and each file's heading carrying its verdict.

The maps are the analytic ones of ``test_report.py``: a Fizeau map with 0.41 nm
of astigmatism fails the 0.40 nm limit, one with 0.39 nm passes, and the
microscope site with its 20 /mm ripple of 0.1 nm passes its bands.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from test_report import csi_map, fiz_map, write_files, write_spec

import metrology as mt
from metrology import reports
from metrology.check import check

pytest.importorskip("matplotlib")


def test_summary_table_and_file_verdicts(tmp_path: Path) -> None:
    spec = mt.load_spec(write_spec(tmp_path))
    write_files(tmp_path / "bad", {"a_fiz.x3p": fiz_map(0.41, 0.27), "b_csi.x3p": csi_map()})
    write_files(tmp_path / "good", {"a_fiz.x3p": fiz_map(0.39, 0.27), "b_csi.x3p": csi_map()})
    report = check(spec, [tmp_path / "bad", tmp_path / "good"])
    page = reports.to_html(report)
    summary = page.split("<h2>Parts, worst first</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="([a-z-]+)"><td><a href="#([^"]+)">([^<]*)</a></td>'
                      r'<td class="v">([a-z-]+)</td>', summary)
    assert [(name, verdict) for _, _, name, verdict in rows] == [("bad", "fail"),
                                                                 ("good", "pass")]
    for _, anchor, _, _ in rows:  # every link has its target
        assert page.count(f'id="{anchor}"') == 1
    heads = [html.unescape(re.sub(r"<[^>]+>", "", h)) for h in re.findall(r"<h3>(.*?)</h3>",
                                                                         page)]
    assert heads == ["a_fiz.x3p \u2192 measurement fiz FAIL",
                     "b_csi.x3p \u2192 measurement csi PASS",
                     "a_fiz.x3p \u2192 measurement fiz PASS",
                     "b_csi.x3p \u2192 measurement csi PASS"]


def test_one_part_has_no_summary(tmp_path: Path) -> None:
    spec = mt.load_spec(write_spec(tmp_path))
    write_files(tmp_path / "good", {"a_fiz.x3p": fiz_map(0.39, 0.27), "b_csi.x3p": csi_map()})
    page = reports.to_html(check(spec, [tmp_path / "good"]))
    assert "<h2>Parts, worst first</h2>" not in page and "<h2>Yield</h2>" not in page
    assert page.count("<h2 id=") == 1
