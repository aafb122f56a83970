"""The names of the methods and profiles, for the command line: importing them imports no torch.

registry.py builds the methods and checks that these names match it (so the CLI's --help and option
checks stay light: `layergan prepare` and `synth-data` start without loading torch).
"""

METHOD_NAMES = ("pix2pix", "thermalgan", "seg2thermal", "layergan-reduced", "layergan")
PROFILE_NAMES = ("cpu-64", "gpu-256", "gpu-512")
