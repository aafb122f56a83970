"""How long a studio slider change takes to show, at the demo's 64 px and at 256 px, with the CPU profile's widths.

Each model is a layergan generator trained one step (the time of a render does not depend on the weights) on
embedded scenes of the model's size. Two figures per size:
  server: Studio.render (the generator at the edited temperatures, and the local composite) plus the HTML of
          both views (palette image, colorbar, hover grid), for 20 class-slider values;
  page:   from typing a value into the car slider in headless Chromium to the new image in the page, 10 times
          (skipped without Chromium).
Target (issue #17): at most 1 s at 256 px on 2 CPU cores. Writes benchmarks/results/studio.json.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import run_measured, save_result
from layergan.methods.config import merge
from layergan.pipeline import PROFILES, run_config

QUICK = {"sizes": (32,), "renders": 3, "page_renders": 2}


def _model(root: Path, size: int) -> tuple[Path, Path]:
    raw = root / f"raw-{size}"
    run_measured(["layergan", "synth-data", "--out", str(raw), "--train", "4", "--test", "2", "--size",
                  f"{size}x{size}", "--quiet"])
    run_measured(["layergan", "prepare", "--src", str(raw), "--out", str(root / f"prepared-{size}"), "--quiet"])
    config = merge(run_config("layergan", root / f"prepared-{size}", root / f"run-{size}", PROFILES["smoke"], 0),
                   {"size": size, "steps": 1, "batch": 2, "checkpoint_every": 1}, "studio-benchmark")
    (root / f"run-{size}.yaml").write_text(config.to_yaml())
    run_measured(["layergan", "train", "--config", str(root / f"run-{size}.yaml"), "--quiet"])
    return root / f"run-{size}", raw


def _server_seconds(studio, scene: str, renders: int) -> list[float]:
    from layergan.studio.view import display_window, frame_html

    state = studio.open(scene)
    car = studio.classes.names.index("car")
    times = []
    for value in np.linspace(0, 60, renders):
        start = time.perf_counter()
        state.class_values[car] = float(value)
        frame = studio.render(state)
        window = display_window(state.base_frame, frame, state.raw.thermal)
        frame_html(frame, "synthesized", "°C", "iron", window, "thermal")
        frame_html(state.raw.thermal, "ground truth", "°C", "iron", window, "truth")
        times.append(time.perf_counter() - start)
    return times


def _page_seconds(studio, scene: str, renders: int) -> list[float] | None:
    import shutil

    chromium = os.environ.get("LAYERGAN_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        return None
    import gradio
    from playwright.sync_api import sync_playwright

    from layergan.studio.page import launch

    _, url, _ = launch(studio, "127.0.0.1", 7869, block=False)
    times = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(url)
            page.click("#scene input")
            page.keyboard.type(scene)
            page.keyboard.press("Enter")
            page.wait_for_selector("#thermal img[data-temps]", timeout=60000)
            box = page.locator("#class-car input[type='number']")
            for value in np.linspace(5, 55, renders):
                old = page.locator("#thermal img").get_attribute("data-temps")
                start = time.perf_counter()
                box.fill(f"{value:.1f}")
                box.press("Enter")
                page.wait_for_function("old => document.querySelector('#thermal img').dataset.temps !== old",
                                       arg=old, timeout=60000)
                times.append(time.perf_counter() - start)
            browser.close()
    finally:
        gradio.close_all()
    return times


def run(sizes: tuple[int, ...] = (64, 256), renders: int = 20, page_renders: int = 10) -> dict:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import torch

    from layergan.studio.session import Studio

    torch.set_num_threads(2)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            run, raw = _model(Path(tmp), size)
            studio = Studio(run, raw, warn=lambda message: None)
            names = [n for n in studio.library.names if n.startswith("test/")]
            scene = max(names, key=lambda n: int((studio.library.load(n).class_map == 2).sum()))
            server = _server_seconds(studio, scene, renders)[1:]  # the first call warms the thread pools
            page = _page_seconds(studio, scene, page_renders)
            rows.append({"model size": size, "scene": f"{size}x{size}", "server median (s)": round(np.median(server), 3),
                         "server max (s)": round(max(server), 3),
                         "page median (s)": round(float(np.median(page)), 3) if page else "no Chromium",
                         "page max (s)": round(max(page), 3) if page else "no Chromium"})
    result = {"rows": rows, "target": "a slider change shows within 1 s at 256 px on 2 CPU cores",
              "threads": torch.get_num_threads()}
    save_result("studio" if sizes == (64, 256) else "studio-quick", result)
    return result
