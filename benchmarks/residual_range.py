"""How much of each class the residual target clips: the share of valid training pixels with |T - R| beyond
the limit, for the old ±10 °C and today's ±30 °C, and the 99.5th percentile of |T - R| per class.

On the quality benchmark's data (same profile and seed). Writes benchmarks/results/residual_range.json and the
generated table in docs/data.md.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import save_result
from benchmarks.quality import PROFILE, SEED, make_dataset
from layergan.data.encoding import RESIDUAL
from layergan.data.labels import thermal_segmentation
from layergan.data.sample_file import read_sample_file
from layergan.io import markdown_table
from layergan.pipeline import PROFILES

DATA_DOC = Path(__file__).parent.parent / "docs" / "data.md"
BEGIN, END = "<!-- begin generated: python -m benchmarks residual_range -->", "<!-- end generated -->"
LIMITS = (10.0, RESIDUAL.limit)
QUICK = {"profile": "smoke"}


def run(profile: str = PROFILE) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        _, data = make_dataset(Path(tmp), PROFILES[profile])
        meta = json.loads((data / "meta.json").read_text())
        names = [c["name"] for c in meta["classes"]]
        residuals: dict[str, list[np.ndarray]] = {n: [] for n in names}
        for entry in json.loads((data / "train" / "index.json").read_text()):
            sample = read_sample_file(data / entry["file"])
            class_map = sample["class_map"]
            residual = np.abs(sample["thermal"] - thermal_segmentation(class_map, sample["instance_map"],
                                                                       sample["objects"]))
            for k, name in enumerate(names):
                inside = class_map == k
                if inside.any():
                    residuals[name].append(residual[inside])
    rows = []
    for name in names:
        if not residuals[name]:
            continue
        values = np.concatenate(residuals[name])
        row = {"class": name, "pixels": int(values.size), "q99.5_celsius": round(float(np.quantile(values, 0.995)), 1)}
        row.update({f"clipped_at_{limit:g}C_percent": round(100 * float((values > limit).mean()), 2)
                    for limit in LIMITS})
        rows.append(row)
    result = {"profile": profile, "seed": SEED, "split": "train", "classes": rows}
    save_result("residual_range" if profile == PROFILE else f"residual_range-{profile}", result)
    if profile == PROFILE:
        columns = list(rows[0])
        block = "\n".join([BEGIN, "", markdown_table(columns, [[r[c] for c in columns] for r in rows]), "", END])
        text = DATA_DOC.read_text()
        pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
        DATA_DOC.write_text(pattern.sub(lambda _: block, text) if pattern.search(text) else text)
    return result
