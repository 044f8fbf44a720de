"""Face alignment, clip-length normalization and augmentation of prepared clips."""
