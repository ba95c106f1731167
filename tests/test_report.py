"""The per-study report: a PNG per study with its chosen boxes, and an index.html with the 25 rows."""
from __future__ import annotations

import re

from PIL import Image

from lumbar.inference import predict_study, prior_prediction
from lumbar.report import write_report
from test_locate import FakeBundle, _study


def test_report_draws_each_study_and_lists_its_rows_and_notes(tmp_path):
    bundle = FakeBundle()
    study = _study()
    located = predict_study(bundle, study, keep_images=True)
    unread = prior_prediction(bundle, 9, "study unreadable (OSError: disk): prior")
    index = write_report([located, unread], tmp_path)
    html = index.read_text(encoding="utf-8")
    for p in (located, unread):
        png = tmp_path / f"study_{p.study_id}.png"
        assert png.is_file() and Image.open(png).size[0] > 100
        assert f"study_{p.study_id}.png" in html
    rows = re.findall(r"<td>(\d+_[a-z0-9_]+)</td>", html)
    assert len(rows) == 50 and rows[0].startswith("7_") and rows[-1].startswith("9_")
    assert "study unreadable (OSError: disk): prior" in html
    assert html.count(">model<") == 15 and html.count(">prior<") == 35   # 15 located cells of study 7
