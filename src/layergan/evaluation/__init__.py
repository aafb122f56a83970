"""Evaluation: FID, temperature metrics, reports, sample grids, and translation."""
