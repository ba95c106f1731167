"""Per-group YOLOv8 detectors: input images, datasets, training, prediction over whole series, and
the placement of levels and sides by the DICOM geometry.

images (detector_image), dataset (build_yolo_dataset), train (train_detector), predict (load_detector,
detect_series), levels (choose_boxes). Ultralytics is imported only inside the functions that need it,
after `env.ultralytics_env()` has pointed its config dir into the project. Import from the submodules:
this file imports nothing, so a stage loads only what it uses (and dvc.yaml lists only that).
"""
