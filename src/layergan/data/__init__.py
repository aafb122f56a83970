"""Data: the procedural dataset, readers for the input layouts, preparation, and the torch Dataset."""
