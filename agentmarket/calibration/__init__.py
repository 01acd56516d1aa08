"""Calibration against public figures: targets, validation, optuna fits and convergence in the agent count."""
