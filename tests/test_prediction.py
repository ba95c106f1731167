"""Submission checks, training prior and the single-study reader of the predict command."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pydicom
import pytest

from dicom_fixtures import write_series
from lumbar.evaluation import solution_frame
from lumbar.metric import solution_table, training_prior
from lumbar.prediction import check_submission, study_series
from lumbar.vocabulary import AXIAL_T2, GRADES, LABEL_COLUMNS, SAGITTAL_T1, SUBMISSION_COLUMNS, row_id


def _sample(studies=(7, 9)):
    sample = pd.DataFrame({"row_id": [row_id(s, c) for s in studies for c in LABEL_COLUMNS]})
    for c in SUBMISSION_COLUMNS:
        sample[c] = 1 / 3
    return sample


def test_check_submission_accepts_the_sample_and_refuses_reordered_or_bad_rows():
    sample = _sample()
    check_submission(sample, sample)
    with pytest.raises(ValueError, match="order"):
        check_submission(sample.iloc[::-1].reset_index(drop=True), sample)
    bad = sample.copy()
    bad.loc[3, "severe"] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        check_submission(bad, sample)
    bad = sample.copy()
    bad.loc[0, "normal_mild"] = 0.9
    with pytest.raises(ValueError, match="unnormalised"):
        check_submission(bad, sample)


def test_training_prior_uses_only_the_given_studies_and_fills_unseen_cells():
    labels = pd.DataFrame({"study_id": [1, 2, 3]})
    for c in LABEL_COLUMNS:
        labels[c] = [GRADES[0], GRADES[0], GRADES[2]]
    labels.loc[:, LABEL_COLUMNS[0]] = None   # a cell never graded in training
    prior = training_prior(labels, [1, 2])
    assert list(prior.index) == list(LABEL_COLUMNS)
    np.testing.assert_allclose(prior.loc[LABEL_COLUMNS[0]].to_numpy(), [1 / 3] * 3)
    p = prior.loc[LABEL_COLUMNS[1]].to_numpy()   # 2 x Normal/Mild in studies 1, 2; study 3 excluded
    np.testing.assert_allclose(p, np.array([2.5, 1.0, 2.0]) / 5.5)


def test_solution_frame_is_one_hot_with_sample_weights():
    labels = pd.DataFrame({"study_id": [5], **{c: [GRADES[i % 3]] for i, c in enumerate(LABEL_COLUMNS)}})
    sol = solution_frame(solution_table(labels))
    assert list(sol.columns) == ["row_id", *SUBMISSION_COLUMNS, "sample_weight"]
    assert (sol[list(SUBMISSION_COLUMNS)].sum(axis=1) == 1).all()
    assert set(sol["sample_weight"]) == {1.0, 2.0, 4.0}
    by = sol.set_index("row_id")
    for i, c in enumerate(LABEL_COLUMNS):   # the one is in the true grade's column, with its weight
        grade = i % 3
        assert by.loc[row_id(5, c), SUBMISSION_COLUMNS[grade]] == 1, c
        assert by.loc[row_id(5, c), "sample_weight"] == (1.0, 2.0, 4.0)[grade]


def test_study_series_reads_descriptions_from_headers_and_skips_other_series(tmp_path):
    study = tmp_path / "123"
    for sid, desc in ((11, "sagittal  t1"), (12, AXIAL_T2), (13, "Localizer")):  # a tag in other case/spacing
        for path in write_series(study / str(sid), n=2, axial=desc == AXIAL_T2):
            ds = pydicom.dcmread(path)
            ds.SeriesDescription = desc
            ds.save_as(path)
    (study / "14").mkdir()
    (study / "14" / "1.dcm").write_bytes(b"not a dicom file")
    table = study_series(study)
    assert table.to_dict("records") == [{"series_id": 11, "series_description": SAGITTAL_T1},
                                        {"series_id": 12, "series_description": AXIAL_T2}]


def test_correct_sides_renames_sagittal_detections_by_the_slice_position():
    from lumbar.detection.predict import correct_sides
    from lumbar.vocabulary import GROUPS

    classes = GROUPS["foraminal"].classes
    det = pd.DataFrame({"series_id": [1, 1, 1], "slice_index": [0, 9, 9], "class_index": [7, 2, 8],
                        "column": [classes[7], classes[2], classes[8]], "confidence": [0.9, 0.8, 0.7]})
    x = {(1, 0): 18.0, (1, 9): -17.0}            # slice 0 on the patient's left, slice 9 on the right
    out = correct_sides(det, "foraminal", x)
    assert list(out["class_index"]) == [2, 7, 8]  # right L3/L4 on a left slice becomes left L3/L4
    assert list(out["column"]) == [classes[2], classes[7], classes[8]]
    axial = det.assign(column=[GROUPS["subarticular"].classes[i] for i in det["class_index"]])
    assert correct_sides(axial, "subarticular", x).equals(axial)


def _test_folder(tmp_path):
    """write_kaggle's test part plus study 4: on disk and in sample_submission, but in no CSV row."""
    from dicom_fixtures import write_kaggle

    k = write_kaggle(tmp_path / "k")
    for sid, desc in ((40, " sagittal T1"), (41, "Sagittal T2/STIR"), (42, "AXIAL T2")):
        for path in write_series(k / "test_images" / "4" / str(sid), n=3, axial="AXIAL" in desc, seed=sid):
            ds = pydicom.dcmread(path)
            ds.SeriesDescription = desc
            ds.save_as(path)
    sample = pd.read_csv(k / "sample_submission.csv")
    extra = pd.DataFrame({"row_id": [row_id(4, c) for c in sorted(LABEL_COLUMNS)]})
    pd.concat([sample, extra.assign(**{c: 1 / 3 for c in SUBMISSION_COLUMNS})]).to_csv(
        k / "sample_submission.csv", index=False)
    return k


def test_predict_reads_an_unlisted_study_from_its_headers_and_survives_a_failing_study(tmp_path, monkeypatch):
    import lumbar.inference as inference
    from lumbar import prediction
    from test_locate import FakeBundle

    k = _test_folder(tmp_path)
    monkeypatch.setattr(prediction.Bundle, "load", classmethod(lambda cls, folder, device="cpu": FakeBundle()))
    seen = {}
    real = inference.predict_study

    def flaky(bundle, study, keep_images=False):
        seen[study.study_id] = sorted((s.series_id, s.view) for s in study.series.values())
        if study.study_id == 3:
            raise RuntimeError("planted failure")
        return real(bundle, study, keep_images)

    monkeypatch.setattr(inference, "predict_study", flaky)
    m = prediction.predict_test_set(tmp_path / "bundle", k, tmp_path / "sub.csv", progress=False,
                                    cells_csv=tmp_path / "cells" / "cells.csv")
    sub = pd.read_csv(tmp_path / "sub.csv")
    cells = pd.read_csv(tmp_path / "cells" / "cells.csv")  # what evaluate scores the test studies from
    assert sorted(cells["row_id"]) == sorted(sub["row_id"]) and (cells["source"] == "prior").sum() == m["cells_from_prior"]
    same = sub.merge(cells, on="row_id", suffixes=("", "_cell"))
    np.testing.assert_allclose(same[list(SUBMISSION_COLUMNS)],
                               same[[f"{c}_cell" for c in SUBMISSION_COLUMNS]].to_numpy(), atol=5e-7)
    assert list(sub["row_id"]) == list(pd.read_csv(k / "sample_submission.csv")["row_id"])
    assert m["rows"] == 50 and m["cells_from_prior"] >= 25          # study 3: every cell from the prior
    assert seen[4] == [(40, SAGITTAL_T1), (41, "Sagittal T2/STIR"), (42, AXIAL_T2)]   # read from the headers
    np.testing.assert_allclose(sub[list(SUBMISSION_COLUMNS)].sum(axis=1), 1.0, atol=1e-5)
