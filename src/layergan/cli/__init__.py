"""The `layergan` command line."""
