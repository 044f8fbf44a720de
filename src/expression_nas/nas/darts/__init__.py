"""DARTS (Liu et al.) cell search on face images, and DARTS-STN (seed 002)."""
