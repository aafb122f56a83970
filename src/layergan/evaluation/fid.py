"""FID with pytorch-fid's InceptionV3 (2048-d pool3), as the paper does (Seitzer 2020).

Thermal frames become 8-bit, 3-channel images through one fixed window,
FID_WINDOW = (-20, 60) °C by default: T -> round(255 * (T - lo) / (hi - lo)), clipped,
repeated on R, G and B. The same window is used for real and generated images.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import numpy as np
import torch

from layergan.checkpoint import refusal
from layergan.compat import import_torchvision
from layergan.errors import LayerganError

FID_WINDOW = (-20.0, 60.0)
WEIGHTS_NAME = "pt_inception-2015-12-05-6726825d.pth"


class FIDWeightsMissing(LayerganError):
    """The Inception weights are missing, unreadable, unsafe or of another network; the message names the file."""


def default_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / WEIGHTS_NAME


def to_uint8_rgb(celsius: torch.Tensor, window=FID_WINDOW) -> torch.Tensor:
    """(N, 1, H, W) °C -> (N, 3, H, W) in [0, 1] on the 8-bit grid."""
    lo, hi = window
    levels = ((celsius.float() - lo) / (hi - lo) * 255).round().clamp(0, 255)
    return (levels / 255).repeat(1, 3, 1, 1)


@contextmanager
def _inception_state(weights: str | Path):
    """Let pytorch-fid build its FID Inception with weights from a file or random ones (tests only)."""
    import_torchvision()
    import pytorch_fid.inception as inception

    if weights == "random":
        built = {}
        original = inception._inception_v3

        def record(*args, **kwargs):
            built["model"] = original(*args, **kwargs)
            return built["model"]

        with mock.patch.object(inception, "_inception_v3", record), \
                mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: built["model"].state_dict()):
            yield inception
        return
    path = Path(weights)
    if not path.exists():
        raise FIDWeightsMissing(
            f"FID Inception weights not found at {path}. Without network access they cannot be downloaded: "
            f"copy {WEIGHTS_NAME} (from pytorch-fid's release page) to {default_weights_path()} "
            "or pass --fid-weights PATH; or use --no-fid")
    if not path.is_file():
        raise FIDWeightsMissing(f"--fid-weights {path}: not a file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # never fall back to unsafe loading
        raise FIDWeightsMissing(f"--fid-weights {refusal(path, error)}") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise FIDWeightsMissing(f"--fid-weights {path}: not a state dict of tensors; expected {WEIGHTS_NAME}")
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state):
        yield inception


def build_inception(weights: str | Path | None = None, device="cpu"):
    """pytorch-fid's InceptionV3 returning pool3 features; `weights` = path, None (cache) or 'random'."""
    path = weights or default_weights_path()
    with _inception_state(path) as inception:
        try:
            model = inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[2048]])
        except (RuntimeError, KeyError, ValueError) as error:  # load_state_dict lists every key: keep one line
            first = str(error).strip().splitlines()[0][:200]
            raise FIDWeightsMissing(f"--fid-weights {path}: these are not pytorch-fid's Inception weights "
                                    f"({WEIGHTS_NAME}): {first}") from None
    return model.eval().to(device)


@torch.no_grad()
def features(model, images01: torch.Tensor) -> np.ndarray:
    return model(images01)[0].squeeze(-1).squeeze(-1).cpu().double().numpy()


def statistics(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(feats) < 2048:
        warnings.warn(f"FID from {len(feats)} images (< 2048): the covariance is rank-deficient and FID is biased "
                      "upward; compare runs only at equal image counts", stacklevel=2)
    return feats.mean(axis=0), np.cov(feats, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    import_torchvision()  # pytorch_fid imports torchvision, which needs the shim on CPU-only torch
    from pytorch_fid.fid_score import calculate_frechet_distance

    return float(calculate_frechet_distance(mu1, sigma1, mu2, sigma2))


def cache_key(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:20]


def cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "layergan" / "fid"
