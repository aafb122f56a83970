"""Training: the generic loop, its log and its run state, and the torchrun helpers."""
