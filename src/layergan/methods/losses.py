"""Losses apart from the loop: the paper's equations as pure functions, and one loss object per method family.

The trainer runs G forward once per step and hands the same output to every phase
(`Loss.accumulate_gradients(phase, batch, output)`). Critic phases train on the detached
output; the G phase backpropagates through it (G has not changed in between).
Phases that name the same optimizer run back to back and share one optimizer step, so
"D" + "Dgp" together are exactly `critic_loss` (eq. 2): the penalty has a phase of its own
only so that the trainer can run it lazily, every `interval` steps, weighted by `interval`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, ContextManager, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

from layergan.compat import import_torchvision
from layergan.data.batch import gather_condition
from layergan.models.thermalgan import CONDITION_LIMIT, contrast_target, stage2_condition

PER_CLASS_CONDITION = ("rgb", "seg", "r")  # what each class critic sees besides the image, masked to its class
Autocast = Callable[[], ContextManager]


@dataclass(frozen=True)
class Phase:
    name: str
    optimizer: str  # "G" or "D"
    interval: int = 1  # the trainer runs the phase on steps divisible by this (lazy regularisation)


class Loss(Protocol):
    phases: tuple[Phase, ...]

    def accumulate_gradients(self, phase: str, batch: dict[str, torch.Tensor],
                             output: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Backpropagate this phase's loss into the gradients; return detached values to log."""


# -- the paper's equations ----------------------------------------------------------------------------------

def present_mean(values: torch.Tensor, presence: torch.Tensor) -> torch.Tensor:
    """Mean over the samples (dim 0) whose presence is 1: (N,) -> a scalar, (N, K) -> one per critic.

    A class critic ignores the samples without its class.
    """
    return (values.float() * presence).sum(0) / presence.sum(0).clamp(min=1.0)


def l1_loss(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor, blur: float = 0.0) -> torch.Tensor:
    """Eq. 1: mean absolute error over pixels, weighted (0 outside the valid region).

    `blur` > 0 low-passes the error (masked to the weighted pixels) by a Gaussian of that sigma first: the L1
    then holds the object temperatures and shapes, and no longer pulls the unpredictable texture to its mean.
    """
    error = prediction.float() - target.float()
    if blur > 0:
        error = lowpass(error * (weight > 0), blur)
    return (error.abs() * weight).sum() / weight.sum().clamp(min=1.0)


def lowpass(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """(N, C, H, W) images blurred by a Gaussian of `sigma` pixels, kernel +-3 sigma, reflected borders."""
    radius = max(1, math.ceil(3 * sigma))
    return import_torchvision().transforms.functional.gaussian_blur(images, [2 * radius + 1] * 2, [sigma, sigma])


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None):
    """(||grad critic(x^)|| - 1)^2 at random interpolates x^ (WGAN-GP, Gulrajani et al. 2017).

    `critic` maps images to (N,) scores, or to (N, K) scores of K critics that each read their own
    image x^[:, k]: the norm is then taken per sample and critic. Interpolates and gradients stay fp32
    even under autocast; only the critic runs in low precision.
    """
    eps = torch.rand(real.shape[0], *[1] * (real.ndim - 1), device=real.device, generator=generator)
    mixed = (eps * real.float() + (1 - eps) * fake.float()).detach().requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    return (grad.float().flatten(scores.ndim).norm(dim=-1) - 1).square()


def wasserstein_term(real_scores, fake_scores, presence) -> torch.Tensor:
    """Eq. 2's first term: -(E[D(x)] - E[D(G(z))])."""
    return -(present_mean(real_scores, presence) - present_mean(fake_scores, presence))


def penalty_term(penalty, presence, weight: float) -> torch.Tensor:
    """Eq. 2's second term: lambda_GP * E[(||grad D(x^)|| - 1)^2]."""
    return weight * present_mean(penalty, presence)


def drift_term(real_scores, presence, weight: float) -> torch.Tensor:
    """epsilon * E[D(x)^2] (ProGAN's drift), which keeps WGAN scores near 0."""
    return weight * present_mean(real_scores.float().square(), presence)


def critic_loss(real_scores, fake_scores, penalty, presence, lambda_gp: float, drift: float) -> torch.Tensor:
    """Eq. 2, the WGAN-GP critic loss, with ProGAN's drift term."""
    return (wasserstein_term(real_scores, fake_scores, presence) + penalty_term(penalty, presence, lambda_gp)
            + drift_term(real_scores, presence, drift))


def generator_loss(l1: torch.Tensor, adversarial: torch.Tensor, lambda_l1: float, lambda_adv: float) -> torch.Tensor:
    """Eq. 3: lambda_L1 * L1 + lambda_adv * (-E[D(G(z))])."""
    return lambda_l1 * l1 + lambda_adv * adversarial


# -- L1 + WGAN-GP (the style-based methods) -------------------------------------------------------------------

class WGANGPLoss:
    """L1 + WGAN-GP (eqs. 1-3), for one critic or K class critics run as one batched network.

    Scores are (N, K) throughout (K = 1 for a single critic), presence (N, K) says which samples hold
    critic k's class, and the critics' terms combine as a weighted mean over the critics present.
    """

    def __init__(self,
                 discriminators: nn.ModuleDict,  # {"all": D}, or {"classes": ClassCritics} with class_critics
                 class_critics: bool,  # critic k sees class k's region, masked, and the condition there
                 condition_keys: tuple[str, ...],  # single critic: the inputs it sees beside the image
                 class_names: tuple[str, ...],
                 lambda_l1: float, lambda_adv: float, lambda_gp: float, drift: float,
                 gp_interval: int,  # > 1: lazy penalty (StyleGAN2), run every k steps and weighted by k
                 class_adv_weights: dict[str, float], class_l1_weights: dict[str, float],
                 autocast: Autocast,
                 l1_blur: float = 0.0):  # sigma (px) of the low-pass on the L1 error; 0 = plain L1
        ((_, self.D),) = discriminators.items()
        self.class_critics, self.condition_keys = class_critics, condition_keys
        self.class_names, self.autocast = class_names, autocast
        self.critic_names = class_names if class_critics else ("all",)
        self.lambda_l1, self.lambda_adv, self.lambda_gp, self.drift = lambda_l1, lambda_adv, lambda_gp, drift
        self.l1_blur = l1_blur
        self.gp_interval = max(1, gp_interval)
        self.phases = (Phase("D", "D"), Phase("Dgp", "D", self.gp_interval), Phase("G", "G"))
        self.adv_weights = torch.tensor([float(class_adv_weights.get(k, 1.0)) for k in self.critic_names])
        self.l1_class_weights = torch.tensor([float(class_l1_weights.get(n, 1.0)) for n in class_names])

    def scores(self, batch: dict[str, torch.Tensor], images: torch.Tensor) -> torch.Tensor:
        """(N, K) critic scores of `images`: (N, 1, S, S) shared by all critics, or (N, K, 1, S, S) one each.

        The image is masked as the real target is (0 in padding and void; a class critic sees its class
        only): unmasked, the fake's padding would be a free cue, and G would spend capacity painting it.
        """
        if not self.class_critics:
            condition = gather_condition(batch, self.condition_keys)
            x = images[:, 0] if images.ndim == 5 else images
            return self.D(torch.cat([x.to(condition.dtype) * batch["valid"], condition], 1)).unsqueeze(1)
        condition = gather_condition(batch, PER_CLASS_CONDITION).unsqueeze(1)  # (N, 1, C, S, S)
        masks = batch["masks"].unsqueeze(2).to(condition.dtype)  # (N, K, 1, S, S)
        x = (images if images.ndim == 5 else images.unsqueeze(1)).to(condition.dtype)
        inputs = torch.cat([x * masks, masks, condition * masks], dim=2)  # (N, K, 2 + C, S, S)
        return self.D(inputs.flatten(1, 2))

    def presence(self, batch) -> torch.Tensor:
        """(N, K): 1 where sample n holds critic k's region."""
        if not self.class_critics:
            return torch.ones(batch["valid"].shape[0], 1, device=batch["valid"].device)
        return (batch["masks"].flatten(2).sum(2) > 0).float()

    def critic_weights(self, presence: torch.Tensor) -> torch.Tensor:
        """(K,) weights of a weighted mean over the critics present in the batch (absent ones get 0)."""
        # A mean, not a sum: K summed critics would give G K times the adversarial gradient of the
        # single-critic methods and drown the L1 term (it diverged in 100 steps at K = 9).
        weights = self.adv_weights.to(presence.device) * (presence.sum(0) > 0)
        return weights / weights.sum().clamp(min=1e-12)

    def l1_weights(self, batch) -> torch.Tensor:
        """Per-pixel L1 weights: the valid mask, or each class's weight inside its mask."""
        if not self.class_critics:
            return batch["valid"]
        w = self.l1_class_weights.to(batch["masks"].device).reshape(1, -1, 1, 1)
        return (batch["masks"] * w).sum(1, keepdim=True)

    def accumulate_gradients(self, phase, batch, output):
        presence = self.presence(batch)
        weights = self.critic_weights(presence)
        present = [(k, name) for k, name in enumerate(self.critic_names) if weights[k] > 0]
        if phase == "G":
            fake = output["thermal"]
            with self.autocast():
                l1 = l1_loss(fake, batch["target"], self.l1_weights(batch), self.l1_blur)
                adversarial = (weights * -present_mean(self.scores(batch, fake), presence)).sum()
            loss = generator_loss(l1, adversarial, self.lambda_l1, self.lambda_adv)
            loss.backward()
            return {"G/l1": l1.detach(), "G/adv": adversarial.detach(), "G/total": loss.detach()}
        fake, real = output["thermal"].detach().float(), batch["target"]
        if phase == "D":
            with self.autocast():
                real_scores, fake_scores = self.scores(batch, real), self.scores(batch, fake)
            wasserstein = wasserstein_term(real_scores, fake_scores, presence)
            total = (weights * (wasserstein + drift_term(real_scores, presence, self.drift))).sum()
            logs = {f"D/wdist_{name}": -wasserstein[k].detach() for k, name in present}
        else:
            if self.class_critics:  # one copy of each image per critic, so each gets its own gradient
                shape = (real.shape[0], len(self.critic_names), *real.shape[1:])
                real, fake = real.unsqueeze(1).expand(shape), fake.unsqueeze(1).expand(shape)
            with self.autocast():
                penalty = gradient_penalty(lambda x: self.scores(batch, x), real, fake)
            total = (weights * penalty_term(penalty, presence, self.lambda_gp * self.gp_interval)).sum()
            means = present_mean(penalty, presence)
            logs = {f"D/gp_{name}": means[k].detach() for k, name in present}
        total.backward()
        logs[f"{phase}/total"] = total.detach()
        return logs


# -- the baselines' published losses -------------------------------------------------------------------------

def conditional_gan_loss(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The 'vanilla' cGAN objective of pix2pix: binary cross-entropy on the PatchGAN logits."""
    return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), float(real)))


def patchgan_critic_loss(D, condition, fake, real) -> torch.Tensor:
    """pix2pix's D loss, halved as published; `fake` must be detached."""
    return 0.5 * (conditional_gan_loss(D(torch.cat([condition, fake.to(condition.dtype)], 1)), False)
                  + conditional_gan_loss(D(torch.cat([condition, real.to(condition.dtype)], 1)), True))


class Pix2PixLoss:
    """cGAN (BCE) + lambda * L1 (Isola et al. 2017) on the (condition, image, target) that `stage` picks."""

    phases = (Phase("D", "D"), Phase("G", "G"))

    def __init__(self, discriminators: nn.ModuleDict, condition_keys: tuple[str, ...], lambda_l1: float,
                 autocast: Autocast):
        ((_, self.D),) = discriminators.items()
        self.condition_keys, self.lambda_l1, self.autocast = condition_keys, lambda_l1, autocast

    def stage(self, batch, output) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(what D is conditioned on, the generated image, its target), both images 0 outside the valid pixels."""
        return gather_condition(batch, self.condition_keys), output["thermal"] * batch["valid"], batch["target"]

    def extra_terms(self, batch, output) -> dict[str, tuple[float, torch.Tensor]]:
        """Further generator terms, name -> (weight, value)."""
        return {}

    def accumulate_gradients(self, phase, batch, output):
        with self.autocast():
            condition, fake, real = self.stage(batch, output)
            if phase == "D":
                loss, logs = patchgan_critic_loss(self.D, condition, fake.detach(), real), {}
            else:
                gan = conditional_gan_loss(self.D(torch.cat([condition, fake.to(condition.dtype)], 1)), True)
                l1 = l1_loss(fake, real, batch["valid"])
                loss = gan + self.lambda_l1 * l1
                logs = {"G/gan": gan.detach(), "G/l1": l1.detach()}
                for name, (weight, value) in self.extra_terms(batch, output).items():
                    loss = loss + weight * value
                    logs[f"G/{name}"] = value.detach()
        loss.backward()
        return {**logs, f"{phase}/total": loss.detach()}


class ThermalGANLoss(Pix2PixLoss):
    """Stage 2 is a pix2pix on contrasts, with its own target clip(T - R, ±10) / 10; stage 1 regresses
    the object temperatures R^ with L1 against the true R."""

    def __init__(self, discriminators: nn.ModuleDict, lambda_l1: float, lambda_stage1: float, autocast: Autocast):
        super().__init__(discriminators, (), lambda_l1, autocast)
        self.lambda_stage1 = lambda_stage1

    def stage(self, batch, output):
        # While training, stage 2 sees the true R (as the original code does): that is its D's condition too.
        return (stage2_condition(batch["r_celsius"], batch["rgb"]), output["contrast"] * batch["valid"],
                contrast_target(batch["thermal"], batch["r_celsius"], batch["valid"]))

    def extra_terms(self, batch, output):
        stage1 = l1_loss(output["r_pred"] / CONDITION_LIMIT, batch["r_celsius"] / CONDITION_LIMIT, batch["valid"])
        return {"stage1_l1": (self.lambda_stage1, stage1)}
