"""The one place that names conditions, levels, views, grades, classes and columns.

Every other module imports these names; no condition, level or series-description string is
written anywhere else, so the Kaggle spelling lives here and only here.
"""
from __future__ import annotations

from dataclasses import dataclass

# --- levels ---------------------------------------------------------------------------------
LEVELS: tuple[str, ...] = ("l1_l2", "l2_l3", "l3_l4", "l4_l5", "l5_s1")
LEVEL_LABELS: dict[str, str] = {lv: lv.replace("_", "/").upper() for lv in LEVELS}  # "L4/L5"

# --- series descriptions (views) ------------------------------------------------------------
SAGITTAL_T1 = "Sagittal T1"
SAGITTAL_T2 = "Sagittal T2/STIR"
AXIAL_T2 = "Axial T2"
VIEWS: tuple[str, ...] = (SAGITTAL_T1, SAGITTAL_T2, AXIAL_T2)

# --- grades ---------------------------------------------------------------------------------
GRADES: tuple[str, ...] = ("Normal/Mild", "Moderate", "Severe")
GRADE_INDEX: dict[str, int] = {g: i for i, g in enumerate(GRADES)}
GRADE_WEIGHTS: tuple[float, ...] = (1.0, 2.0, 4.0)  # competition sample weights by true grade
SUBMISSION_COLUMNS: tuple[str, ...] = ("normal_mild", "moderate", "severe")  # one per grade
ROW_ID = "row_id"
STUDY_ID = "study_id"
SERIES_ID = "series_id"
INSTANCE_NUMBER = "instance_number"
SERIES_DESCRIPTION = "series_description"


@dataclass(frozen=True)
class Group:
    """A model group: one detector and one classifier serve every column of a group."""

    name: str              # "foraminal", "spinal", "subarticular"
    view: str              # series description the group is read on
    conditions: tuple[str, ...]  # train.csv condition prefixes, in class order
    sided: bool

    @property
    def classes(self) -> tuple[str, ...]:
        """Detector class names: side x level for sided groups, level otherwise."""
        return tuple(f"{c}_{lv}" for c in self.conditions for lv in LEVELS)


SPINAL_CONDITION = "spinal_canal_stenosis"
GROUPS: dict[str, Group] = {
    "foraminal": Group("foraminal", SAGITTAL_T1,
                       ("left_neural_foraminal_narrowing", "right_neural_foraminal_narrowing"), True),
    "spinal": Group("spinal", SAGITTAL_T2, (SPINAL_CONDITION,), False),
    "subarticular": Group("subarticular", AXIAL_T2,
                          ("left_subarticular_stenosis", "right_subarticular_stenosis"), True),
}
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)
# The group whose boxes (the canal at each disc on Sagittal T2) place the levels on axial slices.
LEVEL_GROUP = "spinal"

# Kaggle's train.csv column order: spinal, left/right foraminal, left/right subarticular.
CONDITIONS: tuple[str, ...] = (
    SPINAL_CONDITION,
    "left_neural_foraminal_narrowing",
    "right_neural_foraminal_narrowing",
    "left_subarticular_stenosis",
    "right_subarticular_stenosis",
)
CONDITION_LABELS: dict[str, str] = {c: c.replace("_", " ").title() for c in CONDITIONS}
CONDITION_GROUP: dict[str, str] = {c: g.name for g in GROUPS.values() for c in g.conditions}
CONDITION_SIDE: dict[str, str | None] = {
    c: (c.split("_")[0] if GROUPS[CONDITION_GROUP[c]].sided else None) for c in CONDITIONS}

# train.csv grade columns, e.g. "left_neural_foraminal_narrowing_l4_l5"
LABEL_COLUMNS: tuple[str, ...] = tuple(f"{c}_{lv}" for c in CONDITIONS for lv in LEVELS)
COLUMN_PARTS: dict[str, tuple[str, str]] = {f"{c}_{lv}": (c, lv) for c in CONDITIONS for lv in LEVELS}
COLUMN_GROUP: dict[str, str] = {col: CONDITION_GROUP[c] for col, (c, _) in COLUMN_PARTS.items()}


def column_name(condition: str, level: str) -> str:
    """train.csv column for a condition and level (both in snake form)."""
    if condition not in CONDITION_GROUP:
        raise ValueError(f"unknown condition {condition!r}")
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    return f"{condition}_{level}"


def row_id(study_id: int, column: str) -> str:
    """Submission row id, '{study_id}_{column}'."""
    return f"{study_id}_{column}"


def split_row_id(rid: str) -> tuple[int, str]:
    """Inverse of row_id: (study_id, column); raises ValueError naming the bad id."""
    head, _, col = rid.partition("_")
    if not head.isdigit() or col not in COLUMN_PARTS:
        raise ValueError(f"malformed row_id {rid!r}")
    return int(head), col


# train_label_coordinates.csv spells conditions/levels for people ("Left Neural Foraminal
# Narrowing", "L4/L5"); some cleaned copies already use snake form. Both map here.
_CONDITION_ALIASES: dict[str, str] = {}
for _c in CONDITIONS:
    _CONDITION_ALIASES[_c] = _c
    _CONDITION_ALIASES[CONDITION_LABELS[_c].lower()] = _c
_LEVEL_ALIASES: dict[str, str] = {}
for _lv in LEVELS:
    _LEVEL_ALIASES[_lv] = _lv
    _LEVEL_ALIASES[LEVEL_LABELS[_lv].lower()] = _lv


def normalize_condition(text: str) -> str:
    """'Left Neural Foraminal Narrowing' or 'left_neural_foraminal_narrowing' -> snake name."""
    key = str(text).strip().lower()
    if key not in _CONDITION_ALIASES:
        raise ValueError(f"unknown condition {text!r}")
    return _CONDITION_ALIASES[key]


def normalize_level(text: str) -> str:
    """'L4/L5' or 'l4_l5' -> 'l4_l5'."""
    key = str(text).strip().lower()
    if key not in _LEVEL_ALIASES:
        raise ValueError(f"unknown level {text!r}")
    return _LEVEL_ALIASES[key]


def normalize_view(text: str) -> str:
    """'sagittal t1' or ' Axial  T2 ' -> 'Sagittal T1' / 'Axial T2': hand-edited CSVs vary case and spacing."""
    key = " ".join(str(text).split()).lower().replace(" /", "/").replace("/ ", "/")
    for view in VIEWS:
        if view.lower() == key:
            return view
    raise ValueError(f"unknown series description {text!r} (expected one of {list(VIEWS)})")


def grade_label(level_grade: str) -> int:
    """Grade string -> class index 0/1/2; raises ValueError naming the value (the one grade parser)."""
    if level_grade not in GRADE_INDEX:
        raise ValueError(f"unknown grade {level_grade!r} (expected one of {GRADES})")
    return GRADE_INDEX[level_grade]


# Patient-identifying DICOM keywords that must never reach a derived output.
PHI_KEYWORDS: tuple[str, ...] = (
    "PatientName", "PatientBirthDate", "PatientAddress", "PatientTelephoneNumbers",
    "OtherPatientNames", "OtherPatientIDs", "InstitutionName", "InstitutionAddress",
    "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "AccessionNumber",
)

# --- derived tables -------------------------------------------------------------------------
# slices.parquet (extract stage): one row per readable DICOM slice, stack by stack in spatial order per
# series; "stack" numbers the series' stacks (parallel runs of slices, lumbar.dicom.group_stacks).
SLICE_COLUMNS: tuple[str, ...] = (
    STUDY_ID, SERIES_ID, SERIES_DESCRIPTION, INSTANCE_NUMBER, "slice_index", "stack", "rows", "columns",
    "ipp_x", "ipp_y", "ipp_z",                      # ImagePositionPatient (mm, LPS)
    "row_x", "row_y", "row_z", "col_x", "col_y", "col_z",  # ImageOrientationPatient
    "spacing_row", "spacing_col",                 # PixelSpacing (mm)
)
# split table: the one place that decides which study trains, validates or is held out.
SPLIT = "split"
FOLD = "fold"
SPLITS: tuple[str, ...] = ("train", "val", "holdout")
# crops.csv (crop stage) and detections: one row per cell
CROP_COLUMNS: tuple[str, ...] = (
    STUDY_ID, SERIES_ID, ROW_ID, "column", SPLIT, "slice_index", "x1", "y1", "x2", "y2",
    "confidence", "source", "grade",
)
# located boxes (locate stage, inference): the box each cell is read from, with its slice's identity
BOX_COLUMNS: tuple[str, ...] = (
    STUDY_ID, "group", "column", SERIES_ID, "slice_index", INSTANCE_NUMBER, "x1", "y1", "x2", "y2",
    "confidence", "spacing_row", "spacing_col",
)
