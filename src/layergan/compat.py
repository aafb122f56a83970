"""Import torchvision on a CPU-only torch build.

The torchvision wheel that matches torch 2.13.0 is CUDA-built; its compiled ops
do not load against the CPU torch, and `import torchvision` then fails with
"operator torchvision::nms does not exist". Registering the two operator
schemas it looks up at import time lets the pure-Python parts (models) load.
We never use torchvision.ops or torchvision.io, so the missing kernels are
never called.
"""

from __future__ import annotations

import sys

import torch

_shim_library = None  # kept alive: dropping the Library object unregisters the schemas


def import_torchvision():
    """Return the torchvision module, registering stand-in op schemas only if needed."""
    global _shim_library
    try:
        import torchvision

        return torchvision
    except RuntimeError as error:
        if "torchvision::nms" not in str(error):
            raise
    for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
        del sys.modules[name]
    _shim_library = torch.library.Library("torchvision", "DEF")
    _shim_library.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    _shim_library.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
    import torchvision

    return torchvision


def resolve_device(name: str) -> torch.device:
    """'auto' (CUDA when this torch build and machine have it), 'cpu', 'cuda' or 'cuda:N', checked."""
    from layergan.errors import ConfigError

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N") from None
    if device.type == "cpu":
        return device
    if device.type != "cuda":
        raise ConfigError(f"--device {name!r}: expected auto, cpu, cuda or cuda:N")
    if not torch.cuda.is_available():
        build = "this torch build has no CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise ConfigError(f"--device {name}: {build}; use --device cpu (or auto)")
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {name}: only {torch.cuda.device_count()} CUDA device(s) are visible")
    return device
