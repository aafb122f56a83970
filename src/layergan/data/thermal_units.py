"""What the numbers in a thermal frame mean, and their conversion to °C.

Radiometric cameras write kelvin, or centikelvin in 16-bit files (FLIR's TLinear: 0.01 K per count).
Others write raw sensor counts, which become °C only through a calibration (gain and offset).
Uncalibrated counts stay counts: everything downstream then says "units", never °C.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from layergan.errors import ConfigError

KINDS = ("celsius", "kelvin", "centikelvin", "counts")
KELVIN_OFFSET = 273.15


@dataclass(frozen=True)
class ThermalUnits:
    kind: str = "celsius"  # one of KINDS: what the files hold
    gain: float | None = None  # counts -> °C: gain * counts + offset (counts only)
    offset: float | None = None

    @property
    def calibrated(self) -> bool:
        """True when converted frames are in °C."""
        return self.kind != "counts" or self.gain is not None

    @property
    def symbol(self) -> str:
        return "°C" if self.calibrated else "units"

    def to_celsius(self, frame: np.ndarray) -> np.ndarray:
        """float32 °C (or float32 counts, uncalibrated); computed in float64 so that 16-bit counts stay exact."""
        values = frame.astype(np.float64)
        if self.kind == "kelvin":
            values = values - KELVIN_OFFSET
        elif self.kind == "centikelvin":
            values = values / 100.0 - KELVIN_OFFSET
        elif self.kind == "counts" and self.gain is not None:
            values = values * self.gain + self.offset
        return values.astype(np.float32)

    def describe(self) -> dict:
        return {"kind": self.kind, "gain": self.gain, "offset": self.offset, "symbol": self.symbol}

    @classmethod
    def from_dict(cls, data: dict | None) -> "ThermalUnits":
        data = data or {}
        return cls(data.get("kind", "celsius"), data.get("gain"), data.get("offset"))


def parse_units(kind: str, calibration: str | None) -> ThermalUnits:
    """--thermal-units KIND and --calibration GAIN,OFFSET (counts only)."""
    if kind not in KINDS:
        raise ConfigError(f"--thermal-units must be one of {', '.join(KINDS)}, got {kind!r}")
    if calibration is None:
        return ThermalUnits(kind)
    if kind != "counts":
        raise ConfigError(f"--calibration converts raw counts; with --thermal-units {kind} the frames are "
                          "already a temperature. Leave --calibration out, or pass --thermal-units counts")
    try:
        gain, offset = (float(v) for v in calibration.split(","))
    except ValueError:
        raise ConfigError(f"--calibration must be GAIN,OFFSET (°C = GAIN * counts + OFFSET), e.g. 0.04,-273.15; "
                          f"got {calibration!r}") from None
    if not (np.isfinite(gain) and np.isfinite(offset)) or gain == 0:
        raise ConfigError(f"--calibration: GAIN must be a non-zero number and OFFSET finite, got {calibration!r}")
    return ThermalUnits(kind, gain, offset)
