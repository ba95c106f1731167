"""Grading crops: a VGG-19-bn per condition group, trained with the score's weights and calibrated.

checkpoint (load_classifier -> Classifier.predict_proba, for inference), train (train_classifier,
TrainConfig, for the classify stage), data, model, calibration, distributed. Import from the
submodules: this file imports nothing, so inference never loads the training code.
"""
