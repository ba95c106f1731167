"""Real MR DICOM files for the synthetic slices: the tags readers and viewers rely on, deterministic UIDs.

Fake but present patient-identifying fields (PatientName, PatientBirthDate, InstitutionName) are written
on purpose, so the tests can prove that no later stage lets them through.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, RLELossless, generate_uid

from .acquisition import SeriesPlan

_NAMES = ("DOE^JANE", "ROE^RICHARD", "SMITH^ALEX", "MOLLER^KAI", "GARCIA^LUZ", "TANAKA^YUKI")


def _uid(*parts) -> str:
    return generate_uid(entropy_srcs=[str(p) for p in parts])


def write_slice(path: Path, pixels: np.ndarray, plan: SeriesPlan, index: int, study_id: int, seed: int,
                series_number: int) -> None:
    """Write one slice as an MR Image Storage file (RLE Lossless where the plan says so)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MRImageStorage
    sop = _uid(seed, study_id, plan.series_id, index)
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = MRImageStorage, sop
    ds.StudyInstanceUID = _uid(seed, study_id)
    ds.SeriesInstanceUID = _uid(seed, study_id, plan.series_id)
    ds.FrameOfReferenceUID = _uid(seed, study_id, "frame")
    ds.Modality, ds.Manufacturer, ds.BodyPartExamined = "MR", "SYNTHETIC", "LSPINE"
    ds.PatientName = _NAMES[study_id % len(_NAMES)] + f"{study_id % 97:02d}"
    ds.PatientID = str(study_id)
    ds.PatientBirthDate = f"19{40 + study_id % 50:02d}{1 + study_id % 12:02d}{1 + study_id % 28:02d}"
    ds.InstitutionName = f"SYNTHETIC HOSPITAL {study_id % 13}"
    ds.StudyDate = ds.SeriesDate = "20240101"
    ds.SeriesDescription = plan.view
    ds.SeriesNumber = series_number
    ds.InstanceNumber = plan.instance_number(index)
    ds.ImagePositionPatient = [round(float(v), 4) for v in plan.positions[index]]
    ds.ImageOrientationPatient = [round(float(v), 8) for v in plan.orientations[index]]
    ds.PixelSpacing = [round(plan.spacing, 6), round(plan.spacing, 6)]
    ds.SliceThickness = round(plan.thickness, 3)
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.WindowCenter, ds.WindowWidth = 1000, 2000
    ds.PixelData = np.ascontiguousarray(pixels, dtype=np.uint16).tobytes()
    if plan.rle[index]:
        ds.compress(RLELossless, generate_instance_uid=False)  # keep the deterministic UID
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
