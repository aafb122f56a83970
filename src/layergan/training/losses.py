"""Losses as objects apart from the loop: the trainer calls accumulate_gradients(phase, batch).

Phases that name the same optimizer run back to back and share one optimizer step,
so "D" + "Dgp" together are exactly the WGAN-GP critic loss of the paper's eq. 2.

G runs forward once per step, as in the pix2pix reference: the D phase trains on the
detached output, and the G phase backpropagates through that same forward pass (G has
not changed in between). A second forward would cost about an eighth of a layergan step.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F

from layergan.models.generators import gather_condition
from layergan.models.thermalgan import CONTRAST_LIMIT

PER_CLASS_CONDITION = ("rgb", "seg", "r")


@dataclass(frozen=True)
class Phase:
    name: str
    optimizer: str  # "G" or "D"


class SharedForward:
    """Holds G's output from the D phase (with its graph) for the G phase of the same step."""

    def __init__(self):
        self._step, self._value = None, None

    def put(self, step: int, value):
        self._step, self._value = step, value
        return value

    def take(self, step: int):
        value, self._value = (self._value if self._step == step else None), None
        return value


def masked_l1(prediction: torch.Tensor, target: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over pixels, weighted (0 outside the valid region); eq. 1."""
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


class WGANGPLoss:
    """L1 + WGAN-GP (eqs. 1-3). With per-class critics, each sees only its class region."""

    phases = (Phase("D", "D"), Phase("Dgp", "D"), Phase("G", "G"))

    def __init__(self, G: nn.Module, discriminators: nn.ModuleDict, condition_keys: tuple[str, ...],
                 class_names: tuple[str, ...], l1: float, adv: float, gp: float, drift: float,
                 class_adv_weights: dict[str, float], class_l1_weights: dict[str, float], autocast,
                 gp_interval: int = 1):
        self.G, self.Ds, self.condition_keys = G, discriminators, condition_keys
        self.gp_interval, self.forward = max(1, gp_interval), SharedForward()
        self.class_names, self.autocast = class_names, autocast
        self.l1, self.adv, self.gp, self.drift = l1, adv, gp, drift
        self.per_class = "all" not in discriminators
        self.adv_weights = {k: float(class_adv_weights.get(k, 1.0)) for k in discriminators}
        self.l1_class_weights = torch.tensor([float(class_l1_weights.get(n, 1.0)) for n in class_names])

    def _critics(self, batch):
        """(name, weight, critic(image) -> scores, presence per sample) for every discriminator."""
        out = []
        if not self.per_class:
            condition = gather_condition(batch, self.condition_keys)
            D = self.Ds["all"]
            presence = torch.ones(condition.shape[0], device=condition.device)
            out.append(("all", 1.0, lambda x, D=D, c=condition: D(torch.cat([x.to(c.dtype), c], 1)), presence))
            return out
        condition = gather_condition(batch, PER_CLASS_CONDITION)
        for k, name in enumerate(self.class_names):
            m = batch["masks"][:, k:k + 1]
            presence = (m.flatten(1).sum(1) > 0).float()
            if presence.sum() == 0:
                continue  # absent from the whole batch: its weighted loss would be 0
            D = self.Ds[name]
            out.append((name, self.adv_weights[name],
                        lambda x, D=D, m=m, c=condition: D(torch.cat([x.to(c.dtype) * m, m, c * m], 1)), presence))
        # A weighted mean, not a sum: K summed critics would give G K times the adversarial gradient of the
        # single-critic methods and drown the L1 term (it diverged in 100 steps at K = 9).
        total_weight = sum(w for _, w, _, _ in out) or 1.0
        return [(name, w / total_weight, critic, presence) for name, w, critic, presence in out]

    @staticmethod
    def _present_mean(values, presence):
        return (values.float() * presence).sum() / presence.sum().clamp(min=1.0)

    def _weights(self, batch):
        if not self.per_class:
            return batch["valid"]
        w = self.l1_class_weights.to(batch["masks"].device).reshape(1, -1, 1, 1)
        return (batch["masks"] * w).sum(1, keepdim=True)

    def accumulate_gradients(self, phase: str, batch: dict, step: int) -> dict[str, torch.Tensor]:
        logs = {}
        if phase == "G":
            with self.autocast():
                fake = self.forward.take(step)
                fake = self.G(batch)["thermal"] if fake is None else fake
                l1 = masked_l1(fake, batch["target"], self._weights(batch))
                adv = sum(w * -self._present_mean(critic(fake), p) for _, w, critic, p in self._critics(batch))
            loss = self.l1 * l1 + self.adv * adv
            loss.backward()
            return {"G/l1": l1.detach(), "G/adv": adv.detach(), "G/total": loss.detach()}
        if phase == "Dgp" and step % self.gp_interval:
            return {}
        if phase == "D":
            with self.autocast():
                self.forward.put(step, self.G(batch)["thermal"])
        generated = self.forward.take(step)
        if generated is None:  # Dgp without a preceding D phase
            with torch.no_grad(), self.autocast():
                generated = self.G(batch)["thermal"]
        self.forward.put(step, generated)  # still for Dgp and G
        fake, real = generated.detach().float(), batch["target"]
        total = 0.0
        for name, w, critic, presence in self._critics(batch):
            if phase == "D":
                with self.autocast():
                    real_scores, fake_scores = critic(real), critic(fake)
                wasserstein = self._present_mean(real_scores, presence) - self._present_mean(fake_scores, presence)
                drift = self._present_mean(real_scores.float().square(), presence)
                total = total + w * (-wasserstein + self.drift * drift)
                logs[f"D/wdist_{name}"] = wasserstein.detach()
            else:
                with self.autocast():
                    penalty = gradient_penalty(critic, real, fake)
                total = total + w * self.gp * self.gp_interval * self._present_mean(penalty, presence)
                logs[f"D/gp_{name}"] = self._present_mean(penalty, presence).detach()
        if not torch.is_tensor(total):
            return logs
        total.backward()
        logs[f"{phase}/total"] = total.detach()
        return logs


class Pix2PixLoss:
    """cGAN (BCE, 'vanilla') + lambda * L1 (Isola et al. 2017); the D loss is halved as published."""

    phases = (Phase("D", "D"), Phase("G", "G"))

    def __init__(self, G, discriminators, condition_keys, l1: float, autocast):
        self.G, self.D, self.condition_keys, self.l1, self.autocast = G, discriminators["all"], condition_keys, l1, autocast
        self.forward = SharedForward()

    def _inputs(self, batch):
        """(condition for D, generator output, target); ThermalGAN overrides this for its stage 2."""
        out = self.G(batch)
        return gather_condition(batch, self.condition_keys), out["thermal"], batch["target"], out

    def _gan(self, logits, real: bool):
        return F.binary_cross_entropy_with_logits(logits.float(), torch.full_like(logits.float(), float(real)))

    def _extra_g_loss(self, out, batch):
        return None

    def accumulate_gradients(self, phase: str, batch: dict, step: int) -> dict[str, torch.Tensor]:
        if phase == "D":
            with self.autocast():
                condition, fake, real, _ = self.forward.put(step, self._inputs(batch))
                condition, fake = condition.detach(), fake.detach()  # D's backward must leave G's graph intact
                loss = 0.5 * (self._gan(self.D(torch.cat([condition, fake.to(condition.dtype)], 1)), False)
                              + self._gan(self.D(torch.cat([condition, real.to(condition.dtype)], 1)), True))
            loss.backward()
            return {"D/total": loss.detach()}
        with self.autocast():
            shared = self.forward.take(step)
            condition, fake, real, out = self._inputs(batch) if shared is None else shared
            gan = self._gan(self.D(torch.cat([condition, fake.to(condition.dtype)], 1)), True)
            l1 = masked_l1(fake, real, batch["valid"])
            loss = gan + self.l1 * l1
            extra = self._extra_g_loss(out, batch)
        logs = {"G/gan": gan.detach(), "G/l1": l1.detach()}
        if extra is not None:
            loss = loss + extra[0]
            logs.update(extra[1])
        loss.backward()
        logs["G/total"] = loss.detach()
        return logs


class ThermalGANLoss(Pix2PixLoss):
    """Stage 2 is a pix2pix on contrasts; stage 1 regresses the object temperatures with L1."""

    def __init__(self, G, discriminators, l1: float, stage1_l1: float, autocast):
        super().__init__(G, discriminators, (), l1, autocast)
        self.stage1_l1 = stage1_l1

    def _inputs(self, batch):
        out = self.G(batch)
        target = ((batch["thermal"] - batch["r_celsius"]).clamp(-CONTRAST_LIMIT, CONTRAST_LIMIT) / CONTRAST_LIMIT
                  * batch["valid"])
        return out["stage2_input"], out["contrast"], target, out

    def _extra_g_loss(self, out, batch):
        stage1 = masked_l1(out["r_pred"] / 50.0, batch["r_celsius"] / 50.0, batch["valid"])
        return self.stage1_l1 * stage1, {"G/stage1_l1": stage1.detach()}
