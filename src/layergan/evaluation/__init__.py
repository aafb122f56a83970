"""Evaluation: FID, temperature metrics, reports and grids, and the training monitor."""
