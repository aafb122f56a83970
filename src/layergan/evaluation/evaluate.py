"""`layergan evaluate`: every run's EMA generator on the deterministic test split -> metrics and a report."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from layergan.data.batch import collate
from layergan.data.dataset import PreparedDataset, load_meta
from layergan.data.encoding import RESIDUAL
from layergan.data.thermal_units import ThermalUnits
from layergan.errors import DataError
from layergan.evaluation import fid
from layergan.evaluation.grids import to_rgb_image
from layergan.evaluation.objects import BIN_NAMES
from layergan.evaluation.suite import EvaluationMetrics
from layergan.evaluation.utility import UtilityScore, labels_of
from layergan.io import make_dirs, markdown_table, write_json, write_text
from layergan.models.pretrained import load_generator, predict_celsius
from layergan.viz import save_grid


def batches(dataset, batch_size, device="cpu"):
    """The dataset in order, collated onto `device`."""
    for start in range(0, len(dataset), batch_size):
        yield collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))], device)


def real_fid_stats(model, dataset, key_parts, batch_size, device):
    path = fid.cache_dir() / f"{fid.cache_key(*key_parts)}.npz"
    if path.exists():
        with np.load(path) as cached:
            return cached["mu"], cached["sigma"]
    feats = np.concatenate([fid.features(model, fid.to_uint8_rgb(b["thermal"] * b["valid"] +
                                                                   (1 - b["valid"]) * fid.FID_WINDOW[0]).to(device))
                            for b in batches(dataset, batch_size)])
    mu, sigma = fid.statistics(feats)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, mu=mu, sigma=sigma)
    return mu, sigma


def default_window(meta: dict) -> tuple[float, float]:
    """FID's 8-bit window: -20..60 °C; for uncalibrated units, the range of the training objects' means, +-10%."""
    if ThermalUnits.from_dict(meta.get("thermal_units")).calibrated:
        return fid.FID_WINDOW
    stats = [s for s in meta.get("class_statistics", {}).values() if s.get("min") is not None]
    if not stats:
        raise DataError("no class statistics in meta.json to derive an FID window from; give --fid-window LOW,HIGH")
    low, high = min(s["min"] for s in stats), max(s["max"] for s in stats)
    margin = 0.1 * max(high - low, 1.0)
    return (low - margin, high + margin)


def frames_and_labels(dataset, batch_size: int, device, G=None, encoding=None) -> tuple[torch.Tensor, torch.Tensor]:
    """A split's real frames (or, with G, G's frames for the same scenes and temperatures) and class labels."""
    frames, labels = [], []
    for b in batches(dataset, batch_size, device):
        frames.append((b["thermal"] if G is None else predict_celsius(G, b, encoding)).float().cpu())
        labels.append(labels_of(b["masks"], b["valid"]).cpu())
    return torch.cat(frames), torch.cat(labels)


def utility_for(data: str, split: str, size: int, batch_size: int, device, cache: dict, steps: int,
                progress: bool = False) -> UtilityScore:
    """The real-data side of the utility score at `size`, trained once per evaluate call."""
    if size not in cache:
        train = PreparedDataset(data, "train", size, RESIDUAL, augment=False)
        test = PreparedDataset(data, split, size, RESIDUAL, augment=False)
        cache[size] = UtilityScore(*frames_and_labels(train, batch_size, device),
                                   *frames_and_labels(test, batch_size, device), len(train.classes), steps,
                                   progress)
    return cache[size]


def evaluate(runs: list[str], data: str, out: str, split: str = "test", fid_weights: str | None = None,
             use_fid: bool = True, window=None, batch_size: int = 8, device="cpu",
             grid_samples: int = 4, progress: bool = True, warn=print, utility: int = 0) -> dict:
    """`window`: the FID window in the data's units; None = default_window. `utility`: when > 0, also train on
    synthetic and test on real with segmenters of that many steps (evaluation/utility.py; minutes on a CPU)."""
    meta = load_meta(data)
    window = tuple(window) if window is not None else default_window(meta)
    if utility and "train" not in meta["splits"]:
        raise DataError(f"{data}: --utility needs a train split (the scenes to translate); this dataset has "
                        f"{', '.join(meta['splits'])}")
    utility_cache: dict = {}
    out = make_dirs(out)
    inception = fid.build_inception(fid_weights, device) if use_fid else None
    results, predictions, grid_size = {}, {}, 0
    for run in runs:
        loaded = load_generator(run, device, warn=warn)
        name = f"{loaded.method} ({Path(run).name})"
        dataset = PreparedDataset(data, split, loaded.size, loaded.encoding, augment=False)
        grid_size = max(grid_size, loaded.size)
        metrics = EvaluationMetrics(dataset.classes.names, window)
        fake_feats, shown = [], []
        for b in tqdm(batches(dataset, batch_size, device), total=-(-len(dataset) // batch_size),
                      desc=f"evaluate {name}", disable=not progress):
            pred = predict_celsius(loaded.G, b, loaded.encoding)
            metrics.update(pred, b)
            if inception is not None:
                filled = pred + (1 - b["valid"]) * window[0]
                fake_feats.append(fid.features(inception, fid.to_uint8_rgb(filled, window)))
            if len(shown) < grid_samples:
                shown += [p[0].cpu().numpy() for p in pred[: grid_samples - len(shown)]]
        result = metrics.result()
        result.update(method=loaded.method, run=str(run), checkpoint=str(loaded.folder),
                      step=loaded.state["step"], size=loaded.size, images=len(dataset))
        if utility:
            score = utility_for(data, split, loaded.size, batch_size, device, utility_cache, utility, progress)
            train = PreparedDataset(data, "train", loaded.size, loaded.encoding, augment=False)
            result.update(score.score(frames_and_labels(train, batch_size, device, loaded.G, loaded.encoding)[0]))
        if inception is not None:
            key = (loaded.state.get("data_signature"), split, loaded.size, window, fid_weights or "cache")
            mu_r, sig_r = real_fid_stats(inception, dataset, key, batch_size, device)
            mu_f, sig_f = fid.statistics(np.concatenate(fake_feats))
            result["fid"] = fid.frechet_distance(mu_r, sig_r, mu_f, sig_f)
        results[name] = result
        predictions[name] = shown
    # The input columns come from the largest run size; every prediction is letterboxed the same way.
    shown_data = PreparedDataset(data, split, grid_size, RESIDUAL, augment=False)
    unit = shown_data.units.symbol
    grid = _grid(out / "grid.png", shown_data, predictions, grid_samples, unit)
    report = {"split": split, "unit": unit, "fid_window": list(window), "runs": results}
    write_json(out / "metrics.json", report)
    write_text(out / "report.md", _markdown(report, grid.name))
    write_text(out / "report.html", _html(report, grid.name))
    return report


def _grid(path: Path, dataset, predictions: dict, count: int, unit: str) -> Path:
    rows = []
    for i in range(min(count, len(dataset))):
        item = dataset[i]
        rows.append([to_rgb_image(item["rgb"]), to_rgb_image(item["seg"]), item["thermal"][0].numpy(),
                     *[p[i] for p in predictions.values()]])
    thermal_columns = list(range(2, 3 + len(predictions)))
    save_grid(path, rows, ["RGB", "segmentation", "ground truth", *predictions], thermal_columns,
              title=f"test split, shared {unit} window", unit=unit)
    return path


COLUMNS = (("fid", "FID"), ("mae", "MAE {unit}"), ("rmse", "RMSE {unit}"), ("object_mean_error", "object-mean err {unit}"),
           ("ssim", "SSIM"), ("psnr", "PSNR dB"), ("swd", "SWD x1e3"), ("spectrum_distance", "spectrum dist"),
           ("contrast_error", "contrast err {unit}"), ("utility_ratio", "utility (syn/real mIoU)"),
           ("miou_real_plus_synthetic", "mIoU real+syn"))


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _table_rows(report):
    header = ["method", *[c[1].format(unit=report["unit"]) for c in COLUMNS], "step", "images"]
    rows = [[name, *[_fmt(r.get(k)) for k, _ in COLUMNS], str(r["step"]), str(r["images"])]
            for name, r in report["runs"].items()]
    return header, rows


def _markdown(report, grid_name) -> str:
    classes = sorted({c for r in report["runs"].values() for c in r["per_class"]})
    per_class = [[name, *[_fmt(r["per_class"].get(c, {}).get("mae")) for c in classes]]
                 for name, r in report["runs"].items()]
    return "\n".join([
        "# layergan evaluation", "",
        f"Split `{report['split']}`. FID maps {report['unit']} to 8-bit through the fixed window "
        f"{report['fid_window']} {report['unit']} ('–' = not computed). SWD (sliced Wasserstein distance of "
        "Laplacian-pyramid patches, averaged over scales) and the spectrum distance (log10 radial power) "
        "need no downloaded weights; lower is more realistic (docs/evaluation.md)."
        + _utility_sentence(report), "",
        markdown_table(*_table_rows(report)), "", f"## Per-class MAE ({report['unit']})", "",
        markdown_table(["method", *classes], per_class), "",
        "## SWD per scale (x1e3, finest first)", "", markdown_table(*_swd_rows(report)), "",
        f"## Small objects: MAE ({report['unit']}) by object area (share of the valid frame)", "",
        markdown_table(*_area_rows(report)), "", f"![grid]({grid_name})", ""])


def _utility_sentence(report) -> str:
    scored = [r for r in report["runs"].values() if r.get("miou_real") is not None]
    if not scored:
        return ""
    return (f" Utility: a small segmenter trained for {scored[0].get('utility_steps', '?')} steps on each run's "
            f"translations of the training scenes, scored by mIoU on the real test frames, divided by the same "
            f"segmenter trained on the real frames (mIoU {scored[0]['miou_real']:.3f}); 1 = the synthetic frames "
            "teach as much as real ones.")


def _swd_rows(report):
    scales = max((len(r.get("swd_per_scale") or []) for r in report["runs"].values()), default=0)
    rows = [[name, *[_fmt(v) for v in r.get("swd_per_scale") or []]] for name, r in report["runs"].items()]
    return ["method", *[f"level {k}" for k in range(scales)]], rows


def _area_rows(report):
    header, rows = ["method", "class", *BIN_NAMES, "objects per bin"], []
    for name, r in report["runs"].items():
        for cls, bins in (r.get("mae_by_object_area") or {}).items():
            rows.append([name, cls, *[_fmt(bins.get(b)) for b in BIN_NAMES], str(bins.get("objects"))])
    return header, rows


def _html(report, grid_name) -> str:
    header, rows = _table_rows(report)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return (f"<!doctype html><meta charset='utf-8'><title>layergan report</title>"
            f"<style>body{{font-family:sans-serif}}td,th{{padding:4px 8px;border:1px solid #ccc}}</style>"
            f"<h1>layergan evaluation</h1><p>split {html.escape(report['split'])}, FID window "
            f"{report['fid_window']} {html.escape(report['unit'])}.{html.escape(_utility_sentence(report))}</p>"
            f"<table><tr>{head}</tr>{body}</table>"
            f"<h2>Samples</h2><img src='{grid_name}' style='max-width:100%'>")
