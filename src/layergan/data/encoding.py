"""Temperature encodings between °C and the network's [-1, 1] range.

absolute: clip(T, -50, 50) / 50, as the ThermalGAN code does.
residual: T - R, clipped to ±30 °C and companded, where R is the object-mean
          thermal segmentation; decoding adds R back (our reading of "subtract
          the average over the area of each object").
          u = asinh(d / 3.5) / asinh(30 / 3.5) for d = clip(T - R, ±30 °C).

Why companding: ±30 °C keeps at most 0.5% of every class's pixels outside the
range on the embedded data (engines, exhausts and skin reach 25-60 °C above
their object's mean; the old linear ±10 °C clipped up to 13%, docs/data.md has
the table). A linear ±30 °C scale gave the network a third of the old
resolution near 0, where most pixels are: 250-step MAEs rose by 0.3-1 °C. With
asinh(d / 3.5) the slope at 0 is that of the old linear ±10 °C (1/9.96 per °C),
and large residuals are compressed instead of clipped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from layergan.errors import ConfigError, DataError

if TYPE_CHECKING:  # prepare's worker processes import this module; they need no torch
    import torch


@dataclass(frozen=True)
class TemperatureEncoding:
    name: str
    limit: float  # °C clipped at ±limit; ±limit maps to ±1
    relative_to_r: bool
    compand: float | None = None  # °C: u = asinh(v / compand) / asinh(limit / compand); None = linear v / limit

    def _span(self) -> float:
        return math.asinh(self.limit / self.compand)

    def encode(self, celsius: torch.Tensor, r_celsius: torch.Tensor) -> torch.Tensor:
        value = (celsius - r_celsius if self.relative_to_r else celsius).clamp(-self.limit, self.limit)
        if self.compand is None:
            return value / self.limit
        return (value / self.compand).asinh() / self._span()  # tensor methods: workers import no torch

    def decode(self, encoded: torch.Tensor, r_celsius: torch.Tensor) -> torch.Tensor:
        if self.compand is None:
            value = encoded.float() * self.limit
        else:
            value = (encoded.float().clamp(-1, 1) * self._span()).sinh() * self.compand
        return value + r_celsius if self.relative_to_r else value

    def describe(self) -> dict:
        return {"limit_celsius": self.limit, "compand_celsius": self.compand,
                "relative_to_thermal_segmentation": self.relative_to_r}


ABSOLUTE_ZERO = -273.15  # °C
# Scenes an LWIR camera sees: colder or hotter values are almost surely kelvin, centikelvin or raw counts.
PLAUSIBLE_RANGE = (-100.0, 500.0)  # °C


def check_temperatures(low: float, high: float, source: str, allow_extreme: bool = False) -> None:
    """Refuse temperatures below absolute zero always, and outside PLAUSIBLE_RANGE unless allowed."""
    if low < ABSOLUTE_ZERO:
        raise DataError(f"{source}: {low:g} °C is below absolute zero ({ABSOLUTE_ZERO} °C)")
    lo, hi = PLAUSIBLE_RANGE
    if not allow_extreme and (low < lo or high > hi):
        span = f"{low:g} °C lies" if low == high else f"temperatures {low:g}..{high:g} °C lie"
        raise DataError(f"{source}: {span} outside the plausible {lo:g}..{hi:g} °C; "
                        "if these are kelvin or raw sensor counts, convert them to °C first; if they are right, "
                        "pass --allow-extreme-temperatures")


ABSOLUTE = TemperatureEncoding("absolute", 50.0, False)
RESIDUAL = TemperatureEncoding("residual", 30.0, True, compand=3.5)
ENCODINGS = {e.name: e for e in (ABSOLUTE, RESIDUAL)}
CONDITION_LIMIT = 50.0  # R and T as network inputs always use the absolute scale


def encoding_from(description: dict) -> TemperatureEncoding:
    """The encoding a checkpoint recorded (its name, limit and companding), not today's default."""
    encoding = get_encoding(description["encoding"])
    limit = description.get("encoding_limit_celsius", encoding.limit)
    compand = description.get("encoding_compand_celsius", encoding.compand)
    return replace(encoding, limit=float(limit), compand=None if compand is None else float(compand))


def get_encoding(name: str) -> TemperatureEncoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ConfigError(f"unknown temperature encoding {name!r}; choose from {', '.join(ENCODINGS)}") from None
