"""Table 1 on the embedded dataset: all five methods, equal budgets, the same held-out test split.

Each method trains with its published defaults (the style-based ones with the CPU profile's widths, as
in the demo) for the same steps and batch, through `layergan train`, once per training seed (SEEDS; the
data are always SEED's); `layergan evaluate --utility` compares them per seed, and the table gives the
mean and sample std over seeds. Two references without a network (output = R, and the oracle) and the
headroom column place the methods between them. Also records training images/s and peak RSS per run,
and the held-out L1 of the initial and final weights (does it learn?). About 50 CPU-minutes per seed on
2 cores, the utility included.

Each seed's training rows and evaluate results are kept in benchmarks/results/quality-seeds/ as it finishes (a seed
there is not run again), so the seeds of one table may come from several sessions. Writes
benchmarks/results/quality.json from all of them, and the generated block in docs/training.md.
`python -m benchmarks.quality --assemble` writes the table from the seeds finished so far.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import RESULTS, evaluate_runs, machine, run_measured, save_result
from layergan.evaluation.objects import BIN_NAMES, CONTRAST_CLASSES
from layergan.io import markdown_table
from layergan.methods.config import merge
from layergan.methods.registry import METHODS
from layergan.pipeline import PROFILES, Profile, run_config

TRAINING_DOC = Path(__file__).parent.parent / "docs" / "training.md"
BEGIN, END = "<!-- begin generated: python -m benchmarks quality -->", "<!-- end generated -->"
QUICK = {"profile": "smoke", "seeds": (0, 1), "utility_steps": 10}
SEED = 0  # the data (and the first training seed)
SEEDS = (0, 1, 2)  # training seeds: the spread of single runs
PROFILE = "benchmark"  # the demo's dataset and sizes, 250 steps
AREA_KEYS = ("small", "medium", "large")  # BIN_NAMES: below 0.5% of the frame, 0.5-3%, above 3%


def _train_speed(run: Path) -> float:
    """images/s averaged over the whole run, from the last metrics.jsonl line."""
    lines = (run / "metrics.jsonl").read_text().strip().splitlines()
    return json.loads(lines[-1])["images_per_s"]


def _final_metrics(run: Path) -> dict:
    newest = sorted(run.glob("ckpt-*"))[-1]
    return json.loads((newest / "state.json").read_text())["metrics"]


def make_dataset(root: Path, settings: Profile, seed: int = SEED) -> tuple[Path, Path]:
    """The profile's embedded dataset, raw and prepared, under root (deterministic for the data seed)."""
    raw, data = root / "raw", root / "prepared"
    run_measured(["layergan", "synth-data", "--out", str(raw), "--train", str(settings.train_scenes),
                  "--test", str(settings.test_scenes), "--size", "x".join(map(str, settings.scene_size)),
                  "--seed", str(seed), "--workers", "2", "--quiet"])
    run_measured(["layergan", "prepare", "--src", str(raw), "--out", str(data), "--workers", "2", "--quiet"])
    return raw, data


def train(method: str, data: Path, root: Path, settings: Profile, seed: int = SEED, name: str | None = None,
          **overrides) -> tuple[Path, dict, dict]:
    """One `layergan train` process with the pipeline's config for this method: (run folder, wall/RSS, metrics).

    `overrides` are config values, nested as in a YAML config (loss={"l1": 10}); unknown keys raise. The run
    folder is root/runs/<name or method>: evaluate tells runs apart by that folder's name."""
    out, config_path = root / "runs" / (name or method), root / f"{name or method}.yaml"
    root.mkdir(parents=True, exist_ok=True)
    config = merge(run_config(method, data, out, settings, seed), overrides, "benchmark")
    config_path.write_text(config.to_yaml())
    measured = run_measured(["layergan", "train", "--config", str(config_path), "--quiet"])
    return out, measured, _final_metrics(out)


def seed_folder(profile: str) -> Path:
    """Where each training seed's result is kept as it finishes: the seeds of one table can span sessions."""
    return RESULTS / ("quality-seeds" if profile == PROFILE else f"quality-seeds-{profile}")


def run(profile: str = PROFILE, methods: tuple[str, ...] = tuple(METHODS), keep: str | None = None,
        seeds: tuple[int, ...] = SEEDS, utility_steps: int = 300, fresh: bool = False) -> dict:
    """Every method once per training seed (the data stay those of SEED), then the table over every seed kept.

    A seed whose file exists in seed_folder(profile) is not run again unless `fresh`; each seed's file is
    written when its evaluation ends, so an interrupted run keeps the seeds it finished.
    """
    settings: Profile = PROFILES[profile]
    folder = seed_folder(profile)
    if fresh and folder.exists():
        for old in folder.glob("*.json"):
            old.unlink()
    todo = [seed for seed in seeds if not (folder / f"seed-{seed}.json").exists()]
    if not todo and (folder / "references.json").exists():
        return assemble(profile)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(keep) if keep else Path(tmp)
        raw, data = make_dataset(root, settings)
        _save_references(folder, data, settings)
        for seed in todo:
            rows, runs = [], []
            for method in methods:
                out, measured, metrics = train(method, data, root / f"seed-{seed}", settings, seed)
                rows.append({"method": method, "seed": seed, "steps": settings.steps, "batch": settings.batch,
                             "size": settings.size, "train_seconds": measured["seconds"],
                             "train_images_per_s": _train_speed(out),
                             "peak_rss_mib": measured["peak_rss_mib_largest_process"],
                             "held_out_mae_initial": round(metrics["held_out_mae_initial"], 2),
                             "held_out_mae_final": round(metrics["held_out_mae_final"], 2)})
                runs.append(str(out))
            report = root / f"report-{seed}"
            evaluated = evaluate_runs(data, report, runs, "--utility", "--utility-steps", str(utility_steps))
            _save(folder / f"seed-{seed}.json", {"seed": seed, "utility_steps": utility_steps, "training": rows,
                                                  "evaluate": evaluated})
        if todo and "layergan" in methods:  # translate speed, with this invocation's first layergan run
            translate = run_measured(["layergan", "translate", "--checkpoint", str(root / f"seed-{todo[0]}" / "runs"
                                                                                  / "layergan"),
                                      "--input", str(raw), "--out", str(root / "translated"), "--temperatures",
                                      "auto", "--quiet"])
            speed = re.search(r"\(([\d.]+) images/s\)", translate["stdout"])
            _save(folder / "translate.json", {"images": settings.train_scenes + settings.test_scenes,
                                              "images_per_s": float(speed.group(1)) if speed else None,
                                              "peak_rss_mib": translate["peak_rss_mib_largest_process"],
                                              "size": settings.size})
    return assemble(profile)


def _save_references(folder: Path, data: Path, settings: Profile) -> None:
    """The two rows without a network (seconds): saved first, so that the seeds finished so far assemble."""
    _save(folder / "references.json", {"rows": [_r_alone(data, settings.size), _oracle(data, settings)]})


def assemble_now(profile: str = PROFILE) -> dict:
    """The table from the seeds finished so far, making the references if an interrupted run left none."""
    folder = seed_folder(profile)
    if not (folder / "references.json").exists():
        with tempfile.TemporaryDirectory() as tmp:
            _, data = make_dataset(Path(tmp), PROFILES[profile])
            _save_references(folder, data, PROFILES[profile])
    return assemble(profile)


def _save(path: Path, document: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**document, "machine": machine(), "date": time.strftime("%Y-%m-%d")}
    path.write_text(json.dumps(document, indent=2) + "\n")


def assemble(profile: str = PROFILE) -> dict:
    """quality.json and the report's tables from every seed file kept: mean ± std over the seeds there are."""
    settings, folder = PROFILES[profile], seed_folder(profile)
    per_seed = [json.loads(path.read_text()) for path in sorted(folder.glob("seed-*.json"))]
    if not per_seed:
        raise SystemExit(f"no seed results in {folder}; run `python -m benchmarks quality` first")
    by_seed = [[_evaluation_row(r) for r in document["evaluate"]] for document in per_seed]
    references = json.loads((folder / "references.json").read_text())["rows"]
    evaluation = _with_headroom(_over_seeds(by_seed) + references)
    translate = folder / "translate.json"
    translate = {k: v for k, v in json.loads(translate.read_text()).items() if k != "machine"} if translate.exists() else None
    result = {"profile": profile, "seed": SEED, "training_seeds": [d["seed"] for d in per_seed],
              "seed_hosts": {d["seed"]: f"{d['machine']['cpu']}, reference conv {d['machine']['reference_conv_ms']} "
                                        f"ms, {d['date']}" for d in per_seed},
              "scenes": {"train": settings.train_scenes, "test": settings.test_scenes, "size": settings.scene_size},
              "training": [row for d in per_seed for row in d["training"]],
              "translate": translate,
              "evaluation": evaluation,
              "evaluation_by_seed": [row | {"seed": d["seed"]} for d, table in zip(per_seed, by_seed) for row in table],
              "hidden": ["evaluation", "evaluation_by_seed"],  # in the JSON; the report shows the tables below
              "table_1": _summary(evaluation, TABLE_1), "utility": _summary(evaluation[:-2], UTILITY),
              "small_objects": _summary(evaluation, SMALL_OBJECTS)}
    save_result("quality" if profile == PROFILE else f"quality-{profile}", result)
    if profile == PROFILE:
        _write_training_block(result)
    return result


def _r_alone(data: Path, size: int) -> dict:
    """The trivial predictor 'output = R' (each object at its true mean °C): the floor every method given R must beat."""
    from layergan.data.dataset import PreparedDataset
    from layergan.data.encoding import RESIDUAL
    from layergan.evaluation.evaluate import batches
    from layergan.evaluation.suite import EvaluationMetrics

    dataset = PreparedDataset(data, "test", size, RESIDUAL, augment=False)
    metrics = EvaluationMetrics(dataset.classes.names)
    for b in batches(dataset, 8):
        metrics.update(b["r_celsius"], b)
    return _evaluation_row({**metrics.result(), "method": "reference: output = R (no network)", "step": 0,
                            "images": len(dataset)})


def _oracle(data: Path, settings: Profile) -> dict:
    """The best prediction the inputs allow (synth's noiseless parts through the optics), through the same
    letterbox as every method: the floor of every error metric."""
    from layergan.data.dataset import PreparedDataset
    from layergan.data.encoding import RESIDUAL
    from layergan.evaluation.suite import EvaluationMetrics

    dataset = PreparedDataset(data, "test", settings.size, RESIDUAL, augment=False)
    metrics = EvaluationMetrics(dataset.classes.names)
    for truth, best in oracle_batches(dataset, "test", settings):
        metrics.update(best["thermal"], truth)
    return _evaluation_row({**metrics.result(), "step": 0,
                            "method": "reference: oracle (noiseless scene, no network)", "images": len(dataset)})


def oracle_batches(dataset, split: str, settings: Profile, batch: int = 8, seed: int = SEED):
    """(real batch, oracle batch) pairs over a split of the embedded dataset: the oracle frame (synth's noiseless
    parts through the optics, regenerated from the scene's seed) through the same letterbox as the real one."""
    from layergan.data.batch import collate
    from layergan.data.synth import oracle_frame

    width, height = settings.scene_size
    for start in range(0, len(dataset), batch):
        real, best = [], []
        for index in range(start, min(start + batch, len(dataset))):
            raw = dataset.load(index)
            scene = int(dataset.entries[index]["id"].rsplit("_", 1)[1])  # synth's ids: test_000003
            real.append(dataset.builder.make_item(raw, None))  # what dataset[index] gives, without a second read
            best.append(dataset.builder.make_item({**raw, "thermal": oracle_frame(seed, split, scene, height, width)},
                                                  None))
        yield collate(real), collate(best)


def _with_headroom(rows: list[dict]) -> list[dict]:
    """headroom = (MAE - oracle) / (output = R - oracle): 0 at the limit, 1 no better than painting object means.
    Its std over seeds is MAE's, scaled the same way (the references have no seeds)."""
    oracle = next(r["mae"] for r in rows if "oracle" in r["method"])
    r_alone = next(r["mae"] for r in rows if "output = R" in r["method"])
    for row in rows:
        row["headroom"] = round((row["mae"] - oracle) / (r_alone - oracle), 3) if r_alone > oracle else None
        if r_alone > oracle and "mae_std" in row:
            row["headroom_std"] = round(row["mae_std"] / (r_alone - oracle), 3)
    return rows


TABLE_1 = (("mae", "MAE (°C)"), ("object_mean_error", "object-mean error (°C)"), ("swd", "SWD (x1e3)"),
           ("spectrum_distance", "spectrum distance"), ("contrast_error", "contrast error (°C)"),
           ("headroom", "headroom"), ("ssim", "SSIM"), ("psnr", "PSNR (dB)"))
UTILITY = (("miou_synthetic", "mIoU, trained on synthetic"), ("utility_ratio", "synthetic / real"),
           ("miou_real_plus_synthetic", "mIoU, real + synthetic"), ("miou_real", "mIoU, real alone"))
SMALL_OBJECTS = tuple((f"mae_{name}_{size}", f"{name} {label} (°C)") for name in CONTRAST_CLASSES
                      for size, label in zip(AREA_KEYS, BIN_NAMES)) + tuple(
    (f"contrast_{name}", f"{name} contrast error (°C)") for name in CONTRAST_CLASSES)


def _summary(rows: list[dict], columns) -> list[dict]:
    """Rows of 'mean ± std' (sample std over the seeds) for the report; one value where there is no std."""
    def cell(row, key):
        if row.get(key) is None:
            return ""
        return f"{row[key]:.3g} ± {row[key + '_std']:.2g}" if key + "_std" in row else f"{row[key]:.3g}"
    return [{"method": row["method"], **{label: cell(row, key) for key, label in columns}} for row in rows]


def _over_seeds(tables: list[list[dict]]) -> list[dict]:
    """One row per method: the mean of every metric over the seeds, and its sample std as `<metric>_std`."""
    rows = []
    for rows_of_method in zip(*tables):
        row = {"method": rows_of_method[0]["method"], "seeds": len(rows_of_method),
               "step": rows_of_method[0]["step"], "images": rows_of_method[0]["images"]}
        for key in rows_of_method[0]:
            values = [r.get(key) for r in rows_of_method]
            if key in row or not all(isinstance(v, (int, float)) for v in values):
                continue
            row[key] = round(float(np.mean(values)), 3)
            if len(values) > 1:
                row[f"{key}_std"] = round(float(np.std(values, ddof=1)), 3)
        rows.append(row)
    return rows


def _evaluation_row(result: dict) -> dict:
    columns = ("mae", "rmse", "object_mean_error", "ssim", "psnr", "fid", "swd", "spectrum_distance",
               "contrast_error", "utility_ratio", "miou_synthetic", "miou_real_plus_synthetic", "miou_real")
    row = {"method": result["method"], "step": result["step"], "images": result["images"]}
    row.update({c: round(result[c], 3) for c in columns if result.get(c) is not None})
    per_class = result.get("per_class", {})
    row.update({f"mae_{name}": round(v["mae"], 2) for name, v in per_class.items()
                if isinstance(v, dict) and v.get("mae") is not None})
    for name, bins in (result.get("mae_by_object_area") or {}).items():
        row.update({f"mae_{name}_{size}": round(bins[label], 3) for size, label in zip(AREA_KEYS, BIN_NAMES)
                    if bins.get(label) is not None})
    row.update({f"contrast_{name}": round(value, 3)
                for name, value in (result.get("contrast_error_by_class") or {}).items() if value is not None})
    return row


def _write_training_block(result: dict) -> None:
    lines = [BEGIN, "", f"`python -m benchmarks quality` (seed {result['seed']}): {result['scenes']['train']} "
             f"training and {result['scenes']['test']} test scenes of the embedded dataset "
             f"({result['scenes']['size'][0]}x{result['scenes']['size'][1]}), every method trained for the same "
             f"budget on this CPU through `layergan train`. Held-out L1 is the MAE in °C on 16 test samples at "
             "the training size, before the first step and after the last.", "",
             markdown_table(["method", "seed", "steps x batch", "size", "held-out MAE initial (°C)", "final (°C)",
                             "train time (s)", "images/s"],
                            [[r["method"], r.get("seed", result["seed"]), f"{r['steps']} x {r['batch']}", r["size"],
                              r["held_out_mae_initial"], r["held_out_mae_final"], r["train_seconds"],
                              r["train_images_per_s"]] for r in result["training"]]),
             "", "The full Table-1 comparison of these runs is in [benchmarks.md](benchmarks.md) (quality).", "", END]
    text = TRAINING_DOC.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    TRAINING_DOC.write_text(pattern.sub(lambda _: "\n".join(lines), text))



if __name__ == "__main__":  # python -m benchmarks.quality --assemble: the table from the seeds finished so far
    import argparse

    from benchmarks import report

    parser = argparse.ArgumentParser(prog="python -m benchmarks.quality", description=__doc__)
    parser.add_argument("--assemble", action="store_true", required=True,
                        help="write quality.json and the report from the seed files kept, training nothing")
    parser.parse_args()
    assemble_now()
    print(f"wrote {report.write()}")
