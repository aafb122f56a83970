"""Train on synthetic, test on real: does synthetic thermal teach what real thermal teaches?

The Classification Accuracy Score of Ravuri & Vinyals (2019), applied to thermal segmentation. One fixed small
segmenter (thermal frame in, classes out; same seed, steps and schedule every time) is trained on
  - the real training frames,
  - a run's translations of the same training scenes (its output given their true temperatures),
  - both together,
and scored by mean IoU on the real test frames. The utility ratio is synthetic / real mIoU: 1 means the
synthetic frames teach as much as the real ones.

Inputs are normalised once, by the mean and std of the real training frames over their valid pixels, so
that every training set sees the same transform. Void and padding are ignored in the loss and the score.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

STEPS = 300  # a few minutes per training on 2 CPU cores at 64 px
BATCH = 16
LEARNING_RATE = 3e-3
SEED = 0
IGNORE = -1


class Segmenter(nn.Module):
    """A two-scale encoder-decoder of about 30k parameters: small enough to train in seconds at 64 px."""

    def __init__(self,
                 num_classes: int,  # output channels
                 width: int = 16,  # channels at full resolution; twice that at half
                 ):
        super().__init__()

        def block(cin, cout, stride=1):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())

        self.fine = nn.Sequential(block(1, width), block(width, width))
        self.coarse = nn.Sequential(block(width, 2 * width, 2), block(2 * width, 2 * width))
        self.merge = block(3 * width, width)
        self.head = nn.Conv2d(width, num_classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fine = self.fine(x)
        coarse = F.interpolate(self.coarse(fine), size=x.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.merge(torch.cat([fine, coarse], dim=1)))


def labels_of(masks: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) class masks and (N, 1, H, W) valid -> (N, H, W) class ids, IGNORE where not valid."""
    labels = masks.argmax(dim=1)
    return torch.where(valid[:, 0] > 0.5, labels, torch.full_like(labels, IGNORE))


def train_segmenter(frames: torch.Tensor, labels: torch.Tensor, num_classes: int, norm: tuple[float, float],
                    steps: int = STEPS, seed: int = SEED, progress: str | None = None) -> Segmenter:
    """frames (N, 1, H, W) in °C (or units), labels (N, H, W). Deterministic for a given seed and data.
    `progress`: a bar with this label (a CPU evaluate otherwise sits silent for the segmenters' minutes)."""
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = Segmenter(num_classes)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    inputs = (frames.float() - norm[0]) / norm[1]
    model.train()
    for _ in tqdm(range(steps), desc=progress, disable=progress is None, leave=False):
        pick = torch.randint(len(inputs), (min(BATCH, len(inputs)),), generator=generator)
        x, y = inputs[pick], labels[pick]
        flip = torch.rand(len(pick), generator=generator) < 0.5  # the one augmentation: left-right
        x = torch.where(flip[:, None, None, None], x.flip(-1), x)
        y = torch.where(flip[:, None, None], y.flip(-1), y)
        loss = F.cross_entropy(model(x), y, ignore_index=IGNORE)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
    return model.eval()


@torch.no_grad()
def mean_iou(model: Segmenter, frames: torch.Tensor, labels: torch.Tensor, num_classes: int,
             norm: tuple[float, float]) -> float:
    """Mean IoU over the classes present in `labels`, pixels with IGNORE left out."""
    intersection, union = np.zeros(num_classes), np.zeros(num_classes)
    present = np.zeros(num_classes, dtype=bool)
    for start in range(0, len(frames), 32):
        pred = model((frames[start:start + 32].float() - norm[0]) / norm[1]).argmax(dim=1)
        truth = labels[start:start + 32]
        keep = truth != IGNORE
        p, t = pred[keep].numpy(), truth[keep].numpy()
        intersection += np.bincount(t[p == t], minlength=num_classes)
        union += np.bincount(p, minlength=num_classes) + np.bincount(t, minlength=num_classes)
        present |= np.bincount(t, minlength=num_classes) > 0
    union -= intersection
    return float(np.mean(intersection[present] / np.maximum(union[present], 1)))


def normalisation(frames: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    values = frames[:, 0][labels != IGNORE].double()
    return float(values.mean()), float(max(values.std(), 1e-3))


class UtilityScore:
    """Real-only mIoU is trained once and shared by every run scored against the same data."""

    def __init__(self, real_train: torch.Tensor, train_labels: torch.Tensor, real_test: torch.Tensor,
                 test_labels: torch.Tensor, num_classes: int, steps: int = STEPS, progress: bool = False):
        self.train_labels, self.test, self.test_labels = train_labels, real_test, test_labels
        self.real_train, self.num_classes, self.steps, self.progress = real_train, num_classes, steps, progress
        self.norm = normalisation(real_train, train_labels)
        self.real_miou = self._score(real_train, train_labels, "segmenter on real")

    def _score(self, frames, labels, label: str = "segmenter") -> float:
        model = train_segmenter(frames, labels, self.num_classes, self.norm, self.steps,
                                progress=label if self.progress else None)
        return mean_iou(model, self.test, self.test_labels, self.num_classes, self.norm)

    def score_frames(self, frames: torch.Tensor, labels: torch.Tensor) -> float:
        """mIoU on the real test frames of the segmenter trained on `frames` (any scenes, with their labels)."""
        return self._score(frames, labels)

    def score_added(self, frames: torch.Tensor, labels: torch.Tensor) -> float:
        """mIoU when the real training frames are joined by frames of other scenes (with their own labels)."""
        return self._score(torch.cat([self.real_train, frames]), torch.cat([self.train_labels, labels]))

    def score(self, synthetic_train: torch.Tensor) -> dict:
        """`synthetic_train`: the run's frames for the same training scenes, in the same order."""
        synthetic = self._score(synthetic_train, self.train_labels, "segmenter on synthetic")
        both = self._score(torch.cat([self.real_train, synthetic_train]),
                           torch.cat([self.train_labels, self.train_labels]), "segmenter on real + synthetic")
        return {"miou_real": self.real_miou, "miou_synthetic": synthetic, "miou_real_plus_synthetic": both,
                "utility_ratio": synthetic / self.real_miou if self.real_miou > 0 else None,
                "utility_steps": self.steps}
