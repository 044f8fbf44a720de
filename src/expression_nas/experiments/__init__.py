"""Experiment protocols that combine search, training and evaluation (no Kedro here)."""
