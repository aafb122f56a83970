"""Issue #18: which change to layergan raises train-on-synthetic utility? One change per variant, 3 seeds each.

Every variant trains layergan on the quality benchmark's data with its profile and budget (250 steps x 8, 64 px),
changing only what VARIANTS says, and `layergan evaluate --utility` scores all the variants of one seed in one call
(so they share the real-only segmenter). The table gives mean ± sample std over the seeds of MAE, the realism
measures and the utility columns. `baseline` is the quality benchmark's layergan row when its seed file exists
(the same config and code path), so on the CPU it is not trained twice.

Each (variant, seed) is kept in results/utility-variants/ as it finishes, or results/utility-variants-cuda/ on a
GPU, whose figures are not comparable with the CPU's. About 15 CPU-minutes per variant and seed on 2 cores.
`python -m benchmarks.utility --seeds 1 --variants noise` runs a part (seeds can run as parallel processes).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from benchmarks.common import RESULTS, evaluate_runs, save_result
from benchmarks.quality import (PROFILE, SEEDS, _evaluation_row, _over_seeds, _save, _summary, make_dataset,
                                oracle_batches, seed_folder, train)
from layergan.evaluation.evaluate import utility_for
from layergan.pipeline import PROFILES

METHOD = "layergan"
VARIANTS = {  # name -> (what changes, config overrides)
    "baseline": ("the CPU profile as it was (no random input; L1 on every frequency)", {}),
    "noise": ("StyleGAN2's per-pixel random noise in every layer, beside the skips",
              {"model": {"random_noise": True}}),
    "l1-blur": ("L1 on the error low-passed by a Gaussian of sigma 1.5 px", {"loss": {"l1_blur": 1.5}}),
    "noise-l1-blur": ("both", {"model": {"random_noise": True}, "loss": {"l1_blur": 1.5}}),
    "noise-l1-blur3": ("both, with sigma 3 px", {"model": {"random_noise": True}, "loss": {"l1_blur": 3.0}}),
    "l1-10": ("lambda_L1 10 instead of 100: the critics weigh 10x more", {"loss": {"l1": 10.0}}),
    "input-skips": ("the full-resolution layers' skips from the input itself, not the half-resolution stem",
                    {"model": {"input_skips": True}}),
    "steps-1000": ("1,000 steps instead of 250 (4x the budget)", {"steps": 1000}),
    "wide-skips": ("each skip feeds every channel of its layer a map of its own, not one map broadcast to all",
                   {"model": {"wide_skips": True}}),
    "wide-input-skips": ("wide skips, the full-resolution ones from the input",
                         {"model": {"wide_skips": True, "input_skips": True}}),
    "lr-2x": ("learning rates 0.002 instead of 0.001 (G and D): more learning in the same 250 steps",
              {"optim": {"lr_g": 0.002, "lr_d": 0.002}}),
    "critics-2x": ("per-class critics twice as wide (class_d_divisor 2 instead of 4)",
                   {"model": {"class_d_divisor": 2}}),
}
COLUMNS = (("mae", "MAE (°C)"), ("spectrum_distance", "spectrum distance"), ("swd", "SWD (x1e3)"),
           ("contrast_error", "contrast error (°C)"), ("miou_synthetic", "mIoU, synthetic"),
           ("utility_ratio", "synthetic / real"), ("miou_real_plus_synthetic", "mIoU, real + synthetic"),
           ("miou_real", "mIoU, real alone"))
QUICK = {"profile": "smoke", "seeds": (0,), "utility_steps": 10}


def variant_folder(profile: str, cuda: bool | None = None) -> Path:
    """CPU and GPU results are kept apart: the same seed gives different runs on the two."""
    cuda = torch.cuda.is_available() if cuda is None else cuda
    suffix = ("" if profile == PROFILE else f"-{profile}") + ("-cuda" if cuda else "")
    return RESULTS / f"utility-variants{suffix}"


def _from_quality(profile: str, seed: int) -> dict | None:
    """The quality benchmark's layergan row of this seed (the baseline, already measured), if kept on this CPU."""
    path = seed_folder(profile) / f"seed-{seed}.json"
    if torch.cuda.is_available() or not path.exists():
        return None
    document = json.loads(path.read_text())
    row = next((r for r in document["evaluate"] if r["method"] == METHOD), None)
    return {"variant": "baseline", "seed": seed, "from": str(path.relative_to(RESULTS)),
            "evaluate": row} if row else None


def run(profile: str = PROFILE, seeds: tuple[int, ...] = SEEDS, variants: tuple[str, ...] = tuple(VARIANTS),
        utility_steps: int = 300, data: Path | None = None, table: bool = True) -> dict | None:
    """`data`: the prepared dataset make_dataset wrote, when parallel processes share one."""
    settings, folder = PROFILES[profile], variant_folder(profile)
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}; known: {', '.join(VARIANTS)}")
    for seed in seeds:
        if "baseline" in variants and not (folder / f"baseline-seed-{seed}.json").exists():
            kept = _from_quality(profile, seed)
            if kept:
                _save(folder / f"baseline-seed-{seed}.json", kept)
    todo = {seed: [v for v in variants if not (folder / f"{v}-seed-{seed}.json").exists()] for seed in seeds}
    need_references = table and not (folder / "references.json").exists()
    need_added = table and not (folder / "added-scenes.json").exists()
    if any(todo.values()) or need_references or need_added:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            data = data or make_dataset(root, settings)[1]
            if need_references or need_added:  # one real-only segmenter for both
                score = utility_for(str(data), "test", settings.size, 8, "cpu", {}, utility_steps)
            if need_references:
                _save(folder / "references.json", {"utility_steps": utility_steps,
                                                   "rows": references(data, settings, score)})
            if need_added:
                _save(folder / "added-scenes.json", {"utility_steps": utility_steps,
                                                     **added_scenes(root, data, settings, score)})
            for seed, names in todo.items():
                runs = {}
                for name in names:
                    out, measured, _ = train(METHOD, data, root / f"seed-{seed}", settings, seed, name,
                                             **VARIANTS[name][1])
                    runs[name] = (out, measured["seconds"])
                if not runs:
                    continue
                report = root / f"report-{seed}"
                evaluated = evaluate_runs(data, report, [out for out, _ in runs.values()], "--utility",
                                          "--utility-steps", str(utility_steps))
                by_run = {Path(r["run"]).resolve(): r for r in evaluated}
                if len(by_run) != len(runs):
                    raise SystemExit(f"evaluate reported {len(by_run)} runs for the {len(runs)} variants")
                for name, (out, seconds) in runs.items():
                    _save(folder / f"{name}-seed-{seed}.json",
                          {"variant": name, "seed": seed, "overrides": VARIANTS[name][1], "train_seconds": seconds,
                           "utility_steps": utility_steps, "evaluate": _matching(by_run, out)})
    return assemble(profile) if table else None


REFERENCES = {  # name -> what the segmenter is trained on instead of the real training frames
    "oracle": "the oracle frames: the noiseless parts through the optics (no texture, no sensor noise)",
    "real-lowpass": "the real frames low-passed by a Gaussian of sigma 1.5 px",
    "output-r": "output = R: each object painted at its true mean",
}


def references(data: Path, settings, score) -> dict:
    """The utility of frames that need no network: where between the object means and the real frames is it lost?
    `score`: the real-data side (evaluate's utility_for), shared with added_scenes."""
    from layergan.data.dataset import PreparedDataset
    from layergan.data.encoding import RESIDUAL
    from layergan.methods.losses import lowpass

    pairs = list(oracle_batches(PreparedDataset(data, "train", settings.size, RESIDUAL, augment=False), "train",
                                settings))
    frames = {"oracle": torch.cat([best["thermal"] for _, best in pairs]),
              "output-r": torch.cat([real["r_celsius"] * real["valid"] for real, _ in pairs]),
              "real-lowpass": torch.cat([lowpass(real["thermal"], 1.5) * real["valid"] for real, _ in pairs])}
    assert torch.equal(torch.cat([real["thermal"] for real, _ in pairs]), score.real_train)  # the same scenes, in order
    return {name: {"change": change, **score.score(frames[name])} for name, change in REFERENCES.items()}


ADDED_ROWS = (("miou_real", "the real training frames"),
              ("miou_real_plus_oracle_new", "real + the oracle of as many other scenes"),
              ("miou_real_plus_layergan_new", "real + layergan's frames of as many other scenes"),
              ("miou_oracle_new_alone", "the oracle of the other scenes alone"),
              ("miou_layergan_new_alone", "layergan's frames of the other scenes alone"))
NEW_SCENES_SEED = 1  # a second embedded dataset: layouts that the real training scenes do not have


def added_scenes(root: Path, data: Path, settings, score) -> dict:
    """What users do with the tool: join the real training frames with frames of *other* scenes. The scenes are a
    second embedded dataset (data seed NEW_SCENES_SEED); their frames are the oracle's (no network) and the
    baseline layergan's (training seed 0, trained on the real training scenes, given the true temperatures)."""
    from layergan.data.dataset import PreparedDataset
    from layergan.data.encoding import RESIDUAL
    from layergan.evaluation.evaluate import frames_and_labels
    from layergan.evaluation.utility import labels_of
    from layergan.models.pretrained import load_generator

    _, new = make_dataset(root / "new-scenes", settings, NEW_SCENES_SEED)
    pairs = list(oracle_batches(PreparedDataset(new, "train", settings.size, RESIDUAL, augment=False), "train",
                                settings, seed=NEW_SCENES_SEED))
    oracle = torch.cat([best["thermal"] for _, best in pairs])
    labels = torch.cat([labels_of(real["masks"], real["valid"]) for real, _ in pairs])
    out, _, _ = train(METHOD, data, root / "added-scenes", settings, 0)
    loaded = load_generator(str(out))
    synthetic, synthetic_labels = frames_and_labels(PreparedDataset(new, "train", loaded.size, loaded.encoding,
                                                                    augment=False), 8, "cpu", loaded.G,
                                                    loaded.encoding)
    assert torch.equal(synthetic_labels, labels)
    return {"new_scenes": len(labels), "miou_real": score.real_miou,
            "miou_real_plus_oracle_new": score.score_added(oracle, labels),
            "miou_real_plus_layergan_new": score.score_added(synthetic, labels),
            "miou_layergan_new_alone": score.score_frames(synthetic, labels),
            "miou_oracle_new_alone": score.score_frames(oracle, labels)}


def skip_usage(run: Path, data: Path, split: str = "test") -> dict:
    """Issue #18's question "are the feature-to-noise skips used, or have they collapsed to 0?", for one trained
    run: each fed layer's learned strengths, and the test MAE and spectrum distance with that skip zeroed."""
    from layergan.data.dataset import PreparedDataset, load_meta
    from layergan.evaluation.evaluate import batches, default_window
    from layergan.evaluation.suite import EvaluationMetrics
    from layergan.models.pretrained import load_generator, predict_celsius

    loaded = load_generator(str(run))
    G, encoder = loaded.G, loaded.G.encoder
    dataset = PreparedDataset(data, split, loaded.size, loaded.encoding, augment=False)
    window = default_window(load_meta(data))
    layers = G.synthesis.layers()
    fed = [i for i, source in enumerate(encoder.noise_sources) if source is not None]

    def measure(zeroed: set[int]) -> dict:
        def drop(_module, _inputs, output):
            ws, noises = output
            return ws, [torch.zeros_like(n) if i in zeroed and n is not None else n for i, n in enumerate(noises)]

        hook = encoder.register_forward_hook(drop)
        try:
            metrics = EvaluationMetrics(dataset.classes.names, window)
            for b in batches(dataset, 8):
                metrics.update(predict_celsius(G, b, loaded.encoding), b)
        finally:
            hook.remove()
        result = metrics.result()
        return {"mae": round(result["mae"], 3), "spectrum_distance": round(result["spectrum_distance"], 3)}

    rows = [{"layer": "none zeroed", "strength": "", **measure(set())}]
    for i in fed:
        strengths = [round(float(p), 3) for p in layers[i].noise_strengths]
        rows.append({"layer": f"{i} ({G.synthesis.layer_resolutions[i]} px, from {encoder.noise_sources[i]})",
                     "strength": strengths[0] if len(strengths) == 1 else
                     f"{min(strengths)}..{max(strengths)} over {len(strengths)} branches", **measure({i})})
    rows.append({"layer": "all zeroed", "strength": "", **measure(set(fed))})
    return {"run": str(run), "step": loaded.state["step"], "rows": rows}


def _matching(by_run: dict, out: Path) -> dict:
    """evaluate's entry for run folder `out`."""
    if out.resolve() not in by_run:
        raise SystemExit(f"evaluate reported no result for {out}")
    return by_run[out.resolve()]


def assemble(profile: str = PROFILE, cuda: bool | None = None) -> dict:
    folder = variant_folder(profile, cuda)
    rows, hosts = [], []
    for name, (change, _) in VARIANTS.items():
        documents = [json.loads(p.read_text()) for p in sorted(folder.glob(f"{name}-seed-*.json"))]
        if not documents:
            continue
        hosts += [d["machine"] for d in documents if "from" not in d]  # a copied baseline names its quality seed
        per_seed = [[_evaluation_row(d["evaluate"]) | {"method": name}] for d in documents]
        (row,) = _over_seeds(per_seed)
        rows.append(row | {"change": change, "seeds": [d["seed"] for d in documents]})
    if not rows:
        raise SystemExit(f"no variant results in {folder}; run `python -m benchmarks utility` first")
    kept = folder / "references.json"
    reference_rows = json.loads(kept.read_text())["rows"] if kept.exists() else {}
    for name, row in reference_rows.items():
        rows.append({"method": f"reference: {name}", "change": row["change"], "seeds": [],
                     **{k: round(v, 3) for k, v in row.items() if k.startswith("miou") or k == "utility_ratio"}})
    table = [{"variant": r["method"], "change": r["change"], "seeds": len(r["seeds"]),
              **{k: v for k, v in s.items() if k != "method"}} for r, s in zip(rows, _summary(rows, COLUMNS))]
    result = {"profile": profile, "method": METHOD, "rows": rows, "hidden": ["rows"], "variants": table}
    added = folder / "added-scenes.json"
    if added.exists():
        kept = json.loads(added.read_text())
        result["added_scenes"] = [{"segmenter trained on": label, "mIoU on the real test frames": round(kept[key], 3)}
                                  for key, label in ADDED_ROWS]
    usage = folder / "skip-usage.json"
    if usage.exists():
        result["skip_usage"] = json.loads(usage.read_text())["rows"]
    # the machine that trained the variants, not the one assembling their table
    save_result(folder.name.replace("utility-variants", "utility"), result, machine_info=hosts[0] if hosts else None)
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.utility", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--profile", default=PROFILE, choices=list(PROFILES))
    parser.add_argument("--utility-steps", type=int, default=300)
    parser.add_argument("--data", type=Path, help="a prepared dataset from make_dataset (shared by parallel runs)")
    parser.add_argument("--no-table", action="store_true", help="keep the results, write no table (parallel runs)")
    parser.add_argument("--assemble", choices=("cpu", "cuda"), help="only write the table of the results kept there")
    parser.add_argument("--skip-usage", type=Path, metavar="RUN",
                        help="only measure the skips of this trained run on --data (kept in skip-usage.json)")
    args = parser.parse_args()
    if args.skip_usage:
        if not args.data:
            raise SystemExit("--skip-usage needs --data, the prepared dataset the run was trained on")
        usage = skip_usage(args.skip_usage, args.data)
        _save(variant_folder(args.profile) / "skip-usage.json", usage)
        print(json.dumps(usage["rows"], indent=2))
    elif args.assemble:
        print(json.dumps(assemble(args.profile, args.assemble == "cuda")["variants"], indent=2))
    else:
        result = run(args.profile, tuple(args.seeds), tuple(args.variants), args.utility_steps, args.data,
                     not args.no_table)
        print(json.dumps(result["variants"], indent=2) if result else "kept; no table written")
