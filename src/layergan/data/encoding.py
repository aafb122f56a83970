"""Temperature encodings between °C and the network's [-1, 1] range.

absolute: clip(T, -50, 50) / 50, as the ThermalGAN code does.
residual: clip(T - R, -30, 30) / 30, where R is the object-mean thermal
          segmentation; decoding adds R back (our reading of "subtract the
          average over the area of each object"). ±30 °C keeps at most 0.5% of
          every class's pixels outside the range on the embedded data (engines,
          exhausts and skin reach 25-60 °C above their object's mean); ±10 °C
          clipped up to 13% (docs/data.md has the table).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from layergan.errors import ConfigError, DataError

if TYPE_CHECKING:  # prepare's worker processes import this module; they need no torch
    import torch


@dataclass(frozen=True)
class TemperatureEncoding:
    name: str
    limit: float  # °C clipped at ±limit before dividing by it
    relative_to_r: bool

    def encode(self, celsius: torch.Tensor, r_celsius: torch.Tensor) -> torch.Tensor:
        value = celsius - r_celsius if self.relative_to_r else celsius
        return value.clamp(-self.limit, self.limit) / self.limit

    def decode(self, encoded: torch.Tensor, r_celsius: torch.Tensor) -> torch.Tensor:
        value = encoded.float() * self.limit
        return value + r_celsius if self.relative_to_r else value

    def describe(self) -> dict:
        return {"limit_celsius": self.limit, "relative_to_thermal_segmentation": self.relative_to_r}


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
RESIDUAL = TemperatureEncoding("residual", 30.0, True)
ENCODINGS = {e.name: e for e in (ABSOLUTE, RESIDUAL)}
CONDITION_LIMIT = 50.0  # R and T as network inputs always use the absolute scale


def encoding_with_limit(name: str, limit: float | None) -> TemperatureEncoding:
    """The named encoding at the limit a checkpoint was trained with (None: today's default)."""
    encoding = get_encoding(name)
    return encoding if limit is None or limit == encoding.limit else replace(encoding, limit=float(limit))


def get_encoding(name: str) -> TemperatureEncoding:
    try:
        return ENCODINGS[name]
    except KeyError:
        raise ConfigError(f"unknown temperature encoding {name!r}; choose from {', '.join(ENCODINGS)}") from None
