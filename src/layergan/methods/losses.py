"""Losses apart from the loop: the paper's equations as pure functions, and one loss object per method family.

The trainer runs G forward once per step and hands the same output to every phase
(`Loss.accumulate_gradients(phase, batch, output)`). Critic phases train on the detached
output; the G phase backpropagates through it (G has not changed in between).
Phases that name the same optimizer run back to back and share one optimizer step, so
"D" + "Dgp" together are exactly `critic_loss` (eq. 2): the penalty has a phase of its own
only so that the trainer can run it lazily, every `interval` steps, weighted by `interval`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, ContextManager, NamedTuple, Protocol

import torch
import torch.nn as nn
import torch.nn.functional as F

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
    """Mean over the samples whose presence is 1 (a class critic ignores samples without its class)."""
    return (values.float() * presence).sum() / presence.sum().clamp(min=1.0)


def l1_loss(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Eq. 1: mean absolute error over pixels, weighted (0 outside the valid region)."""
    return ((prediction.float() - target.float()).abs() * weight).sum() / weight.sum().clamp(min=1.0)


def gradient_penalty(critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None):
    """(||grad critic(x^)|| - 1)^2 per sample at random interpolates x^ (WGAN-GP, Gulrajani et al. 2017).

    Interpolates and gradients stay fp32 even under autocast; only the critic runs in low precision.
    """
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    mixed = (eps * real.float() + (1 - eps) * fake.float()).detach().requires_grad_(True)
    scores = critic(mixed)
    (grad,) = torch.autograd.grad(scores.float().sum(), mixed, create_graph=True)
    return (grad.float().flatten(1).norm(dim=1) - 1).square()


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

class Critic(NamedTuple):
    name: str
    weight: float  # share in the weighted mean over critics (weights sum to 1)
    score: Callable[[torch.Tensor], torch.Tensor]  # image (N, 1, S, S) -> scores (N,)
    presence: torch.Tensor  # (N,) 1 where the critic's region exists in the sample


class WGANGPLoss:
    """L1 + WGAN-GP (eqs. 1-3). With class critics, critic k sees only class k's region."""

    def __init__(self,
                 discriminators: nn.ModuleDict,  # one critic, or one per class (keys = class names)
                 class_critics: bool,  # True: the keys of `discriminators` are the class names
                 condition_keys: tuple[str, ...],  # single critic: the inputs it sees beside the image
                 class_names: tuple[str, ...],
                 lambda_l1: float, lambda_adv: float, lambda_gp: float, drift: float,
                 gp_interval: int,  # > 1: lazy penalty (StyleGAN2), run every k steps and weighted by k
                 class_adv_weights: dict[str, float], class_l1_weights: dict[str, float],
                 autocast: Autocast):
        self.Ds, self.class_critics, self.condition_keys = discriminators, class_critics, condition_keys
        self.class_names, self.autocast = class_names, autocast
        self.lambda_l1, self.lambda_adv, self.lambda_gp, self.drift = lambda_l1, lambda_adv, lambda_gp, drift
        self.gp_interval = max(1, gp_interval)
        self.phases = (Phase("D", "D"), Phase("Dgp", "D", self.gp_interval), Phase("G", "G"))
        self.adv_weights = {k: float(class_adv_weights.get(k, 1.0)) for k in discriminators}
        self.l1_class_weights = torch.tensor([float(class_l1_weights.get(n, 1.0)) for n in class_names])

    def critics(self, batch: dict[str, torch.Tensor]) -> list[Critic]:
        """Every critic that has something to judge in this batch, with its weight."""
        if not self.class_critics:
            ((name, D),) = self.Ds.items()
            condition, valid = gather_condition(batch, self.condition_keys), batch["valid"]
            presence = torch.ones(condition.shape[0], device=condition.device)
            # The image is masked as the real target is (0 in padding and void): unmasked, the fake's
            # padding would be a free cue, and G would spend capacity painting it.
            return [Critic(name, 1.0, lambda x, D=D, c=condition, v=valid: D(torch.cat([x.to(c.dtype) * v, c], 1)),
                           presence)]
        condition = gather_condition(batch, PER_CLASS_CONDITION)
        out = []
        for k, name in enumerate(self.class_names):
            m = batch["masks"][:, k:k + 1]
            presence = (m.flatten(1).sum(1) > 0).float()
            if presence.sum() == 0:
                continue  # absent from the whole batch: its weighted loss would be 0
            D = self.Ds[name]
            out.append(Critic(name, self.adv_weights[name],
                              lambda x, D=D, m=m, c=condition: D(torch.cat([x.to(c.dtype) * m, m, c * m], 1)),
                              presence))
        # A weighted mean, not a sum: K summed critics would give G K times the adversarial gradient of the
        # single-critic methods and drown the L1 term (it diverged in 100 steps at K = 9).
        total_weight = sum(c.weight for c in out) or 1.0
        return [c._replace(weight=c.weight / total_weight) for c in out]

    def l1_weights(self, batch) -> torch.Tensor:
        """Per-pixel L1 weights: the valid mask, or each class's weight inside its mask."""
        if not self.class_critics:
            return batch["valid"]
        w = self.l1_class_weights.to(batch["masks"].device).reshape(1, -1, 1, 1)
        return (batch["masks"] * w).sum(1, keepdim=True)

    def accumulate_gradients(self, phase, batch, output):
        if phase == "G":
            fake = output["thermal"]
            with self.autocast():
                l1 = l1_loss(fake, batch["target"], self.l1_weights(batch))
                adversarial = sum(c.weight * -present_mean(c.score(fake), c.presence) for c in self.critics(batch))
            loss = generator_loss(l1, adversarial, self.lambda_l1, self.lambda_adv)
            loss.backward()
            return {"G/l1": l1.detach(), "G/adv": adversarial.detach(), "G/total": loss.detach()}
        fake, real = output["thermal"].detach().float(), batch["target"]
        logs, total = {}, 0.0
        for c in self.critics(batch):
            if phase == "D":
                with self.autocast():
                    real_scores, fake_scores = c.score(real), c.score(fake)
                wasserstein = wasserstein_term(real_scores, fake_scores, c.presence)
                total = total + c.weight * (wasserstein + drift_term(real_scores, c.presence, self.drift))
                logs[f"D/wdist_{c.name}"] = -wasserstein.detach()
            else:
                with self.autocast():
                    penalty = gradient_penalty(c.score, real, fake)
                total = total + penalty_term(penalty, c.presence, c.weight * self.lambda_gp * self.gp_interval)
                logs[f"D/gp_{c.name}"] = present_mean(penalty, c.presence).detach()
        if not torch.is_tensor(total):
            return logs
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
