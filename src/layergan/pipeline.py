"""The main job: synth-data -> prepare -> train layergan and pix2pix (equal step budgets) -> evaluate -> translate.

Profiles differ only in sizes; `smoke` is what CI runs, through the same code path.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from layergan.data.prepare import PrepareOptions, prepare
from layergan.data.synth_writer import SynthSettings, write_dataset
from layergan.evaluation import fid
from layergan.evaluation.evaluate import evaluate
from layergan.evaluation.monitor import training_monitor
from layergan.methods.config import TrainConfig
from layergan.methods.registry import resolve
from layergan.training.trainer import Trainer
from layergan.translate import translate

CPU_PROFILE = "cpu-64"  # every method's CPU profile (the baselines keep their published widths in it)


@dataclass(frozen=True)
class Profile:
    train_scenes: int
    test_scenes: int
    scene_size: tuple[int, int]
    steps: int
    batch: int
    size: int
    utility_steps: int  # steps of each utility segmenter in the report (evaluation/utility.py)


PROFILES = {
    # under 15 min on a slow 2-core host, with the install; the utility's segmenters are shortened to fit
    "demo": Profile(240, 40, (320, 240), 150, 8, 64, 100),
    "benchmark": Profile(240, 40, (320, 240), 250, 8, 64, 300),  # the demo's data, a few hundred steps
    "smoke": Profile(10, 4, (96, 72), 3, 2, 32, 3),
}
METHODS = ("layergan", "pix2pix")


def run_config(method: str, data: Path, out: Path, profile: Profile, seed: int) -> TrainConfig:
    return resolve(method, profile=CPU_PROFILE, source="pipeline", overrides={
        "data": str(data), "out": str(out), "size": profile.size, "batch": profile.batch, "steps": profile.steps,
        "seed": seed, "workers": 1, "sample_every": max(1, profile.steps // 2),
        "checkpoint_every": profile.steps or 1, "log_every": max(1, min(20, profile.steps))})


def run_pipeline(out: str | Path, profile_name: str = "demo", seed: int = 0, fid_weights: str | None = None,
                 progress: bool = True, say=print) -> Path:
    profile, out = PROFILES[profile_name], Path(out)
    raw, data = out / "raw", out / "prepared"
    say(f"[1/5] synth-data -> {raw}")
    write_dataset(raw, SynthSettings(profile.train_scenes, profile.test_scenes, *profile.scene_size, seed), workers=2,
                  progress=progress)
    say(f"[2/5] prepare -> {data}")
    prepare(PrepareOptions(src=raw, out=data, workers=2 if profile_name != "smoke" else 1), progress=progress)
    runs = []
    for i, method in enumerate(METHODS):
        say(f"[3/5] train {method} ({profile.steps} steps at {profile.size} px) [{i + 1}/{len(METHODS)}]")
        run = out / "runs" / method
        Trainer(run_config(method, data, run, profile, seed), progress=progress, monitor=training_monitor()).run()
        runs.append(str(run))
    weights = fid_weights or fid.default_weights_path()
    use_fid = Path(weights).exists()
    say(f"[4/5] evaluate ({'with' if use_fid else 'without'} FID"
        + ("" if use_fid else f"; no Inception weights at {weights}")
        + f"; utility with {profile.utility_steps}-step segmenters)")
    report = out / "report"
    evaluate(runs, str(data), str(report), fid_weights=str(weights) if use_fid else None, use_fid=use_fid,
             progress=progress, utility=profile.utility_steps)
    say("[5/5] translate held-out scenes with auto temperatures")
    translate(runs[0], str(raw), str(out / "translated"), temperatures="auto", seed=seed, splits=("test",),
              progress=progress)
    return report / "report.html"
