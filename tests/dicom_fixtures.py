"""Tiny hand-built DICOM files and Kaggle-layout folders for the data-layer tests."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.tag import Tag
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, RLELossless, generate_uid

from lumbar.vocabulary import AXIAL_T2, GRADES, LABEL_COLUMNS, SAGITTAL_T1, SAGITTAL_T2, SUBMISSION_COLUMNS

SAG_IOP = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)   # columns -> posterior, rows -> feet; normal +x (left)
AX_IOP = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)     # columns -> left, rows -> posterior; normal +z (head)
PHI_NAME = "PHITEST^SECRET"
PHI_BIRTH = "19450203"
PHI_INSTITUTION = "PHI TEST HOSPITAL"


def write_dicom(path: Path, pixels: np.ndarray, ipp, iop=SAG_IOP, spacing=(0.5, 0.5), instance: int = 1,
                rle: bool = False, slope: float | None = None, intercept: float | None = None,
                pixel_data: bool = True, transfer_syntax: str | None = None) -> Path:
    """One MR slice with fake PHI in it (so tests can prove it never reaches an output)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid(entropy_srcs=[str(path)])
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, meta.MediaStorageSOPInstanceUID
    ds.Modality = "MR"
    ds.PatientName, ds.PatientBirthDate, ds.InstitutionName = PHI_NAME, PHI_BIRTH, PHI_INSTITUTION
    ds.PatientID = "1"
    ds.InstanceNumber = instance
    ds.ImagePositionPatient = [float(v) for v in ipp]
    ds.ImageOrientationPatient = [float(v) for v in iop]
    ds.PixelSpacing = [float(spacing[0]), float(spacing[1])]
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if slope is not None:
        ds.RescaleSlope, ds.RescaleIntercept = slope, intercept or 0
    if pixel_data:
        ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
        if rle:
            ds.compress(RLELossless)
    if transfer_syntax:  # pretend the pixel data is in a syntax no plugin decodes
        ds.file_meta.TransferSyntaxUID = transfer_syntax
        from pydicom.encaps import encapsulate
        ds.PixelData = encapsulate([b"\x00" * 64])
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def set_raw_value(path: Path, keyword: str, raw: bytes, vr: str | None = None) -> Path:
    """Rewrite one element's bytes in an explicit-VR little-endian file, past pydicom's validation.

    pydicom refuses to set e.g. InstanceNumber 'abcd', but real files carry such values; this writes
    them byte for byte (vr='LO' stores text in a tag whose VR is binary, e.g. Rows). The element is
    added first (value 0) when the file lacks it.
    """
    vr0 = dictionary_VR(keyword)
    ds = pydicom.dcmread(path)
    if keyword not in ds:
        setattr(ds, keyword, 0 if vr0 in ("US", "SS", "UL", "SL") else "0")
        ds.save_as(path)
    tag, data = Tag(keyword), path.read_bytes()
    head = struct.pack("<HH", tag.group, tag.element)
    at = data.index(head + vr0.encode(), 132)
    old_len = struct.unpack("<H", data[at + 6:at + 8])[0]
    raw = raw + b" " if len(raw) % 2 else raw
    element = head + (vr or vr0).encode() + struct.pack("<H", len(raw)) + raw
    path.write_bytes(data[:at] + element + data[at + 8 + old_len:])
    return path


def strip_preamble(path: Path, bare: bool = False) -> Path:
    """Drop the 128-byte preamble and 'DICM' (bare=True: also the file meta, dataset in implicit VR)."""
    if not bare:
        path.write_bytes(path.read_bytes()[132:])
        return path
    ds = pydicom.dcmread(path)
    del ds.file_meta
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, True
    write_dataset(buf, ds)
    path.write_bytes(buf.getvalue())
    return path


def write_series(series_dir: Path, n: int = 3, axial: bool = False, shape=(12, 16), spacing=(0.5, 0.5),
                 gap: float = 4.0, origin=(0.0, 0.0, 0.0), reversed_instances: bool = False,
                 seed: int = 0, rle_every: int = 0) -> list[Path]:
    """n parallel slices; slice k lies at origin + k*gap along the normal (instance order optional reversed)."""
    rng = np.random.default_rng(seed)
    iop = AX_IOP if axial else SAG_IOP
    normal = np.cross(iop[:3], iop[3:])
    paths = []
    for k in range(n):
        inst = n - k if reversed_instances else k + 1
        pix = (rng.integers(0, 4000, size=shape) // (k + 1)).astype(np.uint16)
        paths.append(write_dicom(series_dir / f"{inst}.dcm", pix, np.asarray(origin) + k * gap * normal, iop,
                                 spacing, inst, rle=bool(rle_every and k % rle_every == 0)))
    return paths


def sample(name: str) -> Path:
    return Path(get_testdata_file(name))


def _csv(path: Path, header: list[str], rows: list[list], crlf: bool = False, bom: bool = False) -> None:
    nl = "\r\n" if crlf else "\n"
    text = nl.join([",".join(header)] + [",".join(str(v) for v in r) for r in rows]) + nl
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode())


def replace_once(path: Path, old: str, new: str) -> None:
    """Edit a fixture file in place: the first `old` becomes `new` (bytes as written, line endings kept)."""
    data = path.read_bytes()
    assert old.encode() in data, f"{old!r} not in {path}"
    path.write_bytes(data.replace(old.encode(), new.encode(), 1))


def write_kaggle(root: Path, crlf: bool = False, bom: bool = False, images: bool = True,
                 human_strings: bool = True) -> Path:
    """A two-study train part and one test study, with the quirks real data has:
    study 1 has two axial series and a series folder the CSV does not list; study 2 lists an axial
    series that is missing on disk and has one blank grade; study 3 (test) is complete.
    """
    root.mkdir(parents=True, exist_ok=True)
    series = [(1, 10, SAGITTAL_T1), (1, 11, SAGITTAL_T2), (1, 12, AXIAL_T2), (1, 13, AXIAL_T2),
              (2, 20, SAGITTAL_T1), (2, 21, SAGITTAL_T2), (2, 22, AXIAL_T2)]
    _csv(root / "train_series_descriptions.csv", ["study_id", "series_id", "series_description"],
         [list(s) for s in series], crlf, bom)
    grades = [[sid] + [GRADES[(i + sid) % 3] for i in range(len(LABEL_COLUMNS))] for sid in (1, 2)]
    grades[1][-1] = ""
    _csv(root / "train.csv", ["study_id", *LABEL_COLUMNS], grades, crlf, bom)
    cond = "Spinal Canal Stenosis" if human_strings else "spinal_canal_stenosis"
    lv = "L4/L5" if human_strings else "l4_l5"
    cond2 = "Left Subarticular Stenosis" if human_strings else "left_subarticular_stenosis"
    _csv(root / "train_label_coordinates.csv",
         ["study_id", "series_id", "instance_number", "condition", "level", "x", "y"],
         [[1, 11, 2, cond, lv, 8.5, 6.25], [1, 12, 1, cond2, lv, 3.0, 4.0], [2, 21, 1, cond, lv, 15.9, 11.9]],
         crlf, bom)
    _csv(root / "test_series_descriptions.csv", ["study_id", "series_id", "series_description"],
         [[3, 30, SAGITTAL_T1], [3, 31, SAGITTAL_T2], [3, 32, AXIAL_T2]], crlf, bom)
    _csv(root / "sample_submission.csv", ["row_id", *SUBMISSION_COLUMNS],
         [[f"3_{c}", 1 / 3, 1 / 3, 1 / 3] for c in sorted(LABEL_COLUMNS)], crlf, bom)
    if images:
        for study, sid, desc in series:
            if (study, sid) == (2, 22):
                continue  # listed but missing on disk
            write_series(root / "train_images" / str(study) / str(sid), n=3, axial=desc == AXIAL_T2,
                         seed=sid, reversed_instances=sid == 11, rle_every=2 if sid == 10 else 0)
        write_series(root / "train_images" / "1" / "99", n=2, seed=99)  # on disk, not listed
        for sid, desc in ((30, SAGITTAL_T1), (31, SAGITTAL_T2), (32, AXIAL_T2)):
            write_series(root / "test_images" / "3" / str(sid), n=3, axial=desc == AXIAL_T2, seed=sid)
    return root
