"""Offline: datasets, replay through CustomerState, training, evaluation, the model registry."""
