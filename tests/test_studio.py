"""Issue #17: the studio. Its logic without a browser, its server's safety, and the page end to end in Chromium."""

import base64
import json
import os
import shutil
import socket
import urllib.error
import urllib.request

import numpy as np
import pytest
from PIL import Image

from layergan.classes import default_classes
from layergan.errors import ConfigError, DataError
from tests.test_reliability import cli, data, tiny_config, train  # noqa: F401

CLASSES = default_classes()
CAR = CLASSES.names.index("car")


@pytest.fixture(scope="module")
def model(data, tiny_config, tmp_path_factory):  # noqa: F811
    run = tmp_path_factory.mktemp("studio-model") / "layergan"
    assert train(tiny_config, data, run, "layergan", "--steps", 1).exit_code == 0
    return run


@pytest.fixture(scope="module")
def studio(model, synth_root):
    from layergan.studio.session import Studio

    return Studio(model, synth_root, warn=lambda message: None)


@pytest.fixture(scope="module")
def car_scene(studio):
    """The test scene with the most car pixels."""
    names = [n for n in studio.library.names if n.startswith("test/")]
    return max(names, key=lambda n: int((studio.library.load(n).class_map == CAR).sum()))


def test_a_class_edit_changes_only_that_class_and_an_instance_edit_only_that_instance(studio, car_scene):
    state = studio.open(car_scene)
    before = studio.render(state).copy()
    cars = state.raw.class_map == CAR
    state.class_values[CAR] = 45.0
    after = studio.render(state).copy()
    assert np.array_equal(after[~cars], before[~cars])
    assert np.abs(after[cars] - before[cars]).mean() > 5.0
    first_car = min(k for k in state.base if k[0] == CAR)
    state.instance_values[first_car] = -10.0
    again = studio.render(state)
    own = (state.raw.class_map == CAR) & (state.raw.instance_map == first_car[1])
    assert np.array_equal(again[~own], after[~own]) and again[own].mean() < after[own].mean() - 5.0
    state.ambient_shift = 3.0  # moves only objects with neither a class nor an instance value
    shifted = state.temperatures()
    assert shifted[first_car] == -10.0 and all(v == 45.0 for k, v in shifted.items() if k[0] == CAR and k != first_car)
    assert all(shifted[k] == state.base[k] + 3.0 for k in state.base if k[0] != CAR)


def test_a_prepared_dataset_offers_the_same_scenes_as_its_source(studio, model, data, car_scene):  # noqa: F811
    from layergan.studio.session import Studio

    prepared = Studio(model, data, warn=lambda message: None)
    assert sorted(prepared.library.names) == sorted(studio.library.names)
    a, b = prepared.open(car_scene), studio.open(car_scene)
    assert np.array_equal(a.raw.class_map, b.raw.class_map) and a.base.keys() == b.base.keys()
    assert max(abs(a.base[k] - b.base[k]) for k in a.base) < 1e-3


def test_reset_and_sample_set_new_base_temperatures(studio, car_scene):
    state = studio.open(car_scene)
    state.class_values[CAR] = 50.0
    sampled = studio.sample(state)
    assert sampled.sample_seed == 1 and not sampled.class_values and sampled.base != state.base
    assert studio.sample(sampled).base != sampled.base  # the next seed
    reset = studio.reset(sampled)
    assert reset.base == studio.open(car_scene).base and "thermal frame" in reset.base_source


def test_the_exported_json_reproduces_the_exported_frame_through_translate(studio, car_scene, synth_root, tmp_path):
    state = studio.open(car_scene)
    state.class_values[CAR] = 38.5
    state.ambient_shift = -2.0
    studio.render(state)
    npy, tiff, png8, record, archive = studio.export(state, tmp_path / "export")
    assert np.array_equal(np.load(npy), state.frame)
    assert {p.suffix for p in (npy, tiff, png8, record, archive)} == {".npy", ".tiff", ".png", ".json", ".zip"}
    out = tmp_path / "translated"
    result = cli("translate", "--checkpoint", studio.loaded.folder, "--input", synth_root, "--out", out,
                 "--temperatures", record, "--format", "npy", "--quiet")
    assert result.exit_code == 0, result.output
    written = sorted(out.rglob("*.npy"))
    assert [p.stem for p in written] == [state.raw.ref.id]  # only the studio's scene
    assert np.array_equal(np.load(written[0]), np.load(npy))


def test_studio_files_that_do_not_fit_are_refused_by_name(studio, car_scene, synth_root, tmp_path):
    from layergan.translate.render import read_studio_file

    state = studio.open(car_scene)
    record = json.loads(studio.export(state, tmp_path / "export")[3].read_text())
    names = CLASSES.names
    for change, fragment in (({"format": "other"}, "not a studio export"), ({"unit": "units"}, "works in °C"),
                             ({"base": {"dragon/1": 3.0}}, "'dragon/1' is not CLASS/INSTANCE"),
                             ({"temperatures": {"car/1": float("nan")}}, "not a finite temperature")):
        path = tmp_path / "bad.json"
        path.write_text(json.dumps({**record, **change}))
        with pytest.raises(ConfigError, match=fragment):
            read_studio_file(path, names, "°C")
    state.class_values[CAR] = -300.0
    with pytest.raises(DataError, match="below absolute zero"):
        studio.render(state)
    hot = {**record, "temperatures": {k: 900.0 for k in record["temperatures"]}}
    path = tmp_path / "hot.json"
    path.write_text(json.dumps(hot))
    result = cli("translate", "--checkpoint", studio.loaded.folder, "--input", synth_root, "--out",
                 tmp_path / "h", "--temperatures", path, "--quiet")
    assert result.exit_code != 0 and "outside the plausible" in result.output and str(path) in result.output
    other = {**record, "temperatures": {**record["temperatures"], "car/999": 20.0}}
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    result = cli("translate", "--checkpoint", studio.loaded.folder, "--input", synth_root, "--out",
                 tmp_path / "o", "--temperatures", path, "--quiet")
    assert result.exit_code != 0 and "unknown [(2, 999)]" in result.output and str(path) in result.output


def test_uploads_are_checked_before_they_are_used(studio, tmp_path):
    rgb = np.zeros((24, 32, 3), np.uint8)
    labels = np.zeros((24, 32, 3), np.uint8)
    labels[8:16, 8:20] = CLASSES.colors[CAR]
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(labels).save(tmp_path / "labels.png")
    state = studio.open_upload(tmp_path / "rgb.png", tmp_path / "labels.png")
    assert state.name == "upload/rgb" and (CAR, 1) in state.base and state.raw.thermal is None
    (tmp_path / "notes.txt").write_text("not an image")
    Image.fromarray(rgb[:20]).save(tmp_path / "short.png")
    odd = labels.copy()
    odd[0, 0] = (1, 250, 3)
    Image.fromarray(odd).save(tmp_path / "odd.png")
    Image.new("RGB", (4097, 8)).save(tmp_path / "wide.png")
    for rgb_file, labels_file, fragment in (("notes.txt", "labels.png", "notes.txt: not an image"),
                                            ("short.png", "labels.png", "must be the same size"),
                                            ("rgb.png", "odd.png", "beyond the palette"),
                                            ("wide.png", "labels.png", "4097x8; the limit is 4096x4096")):
        with pytest.raises(DataError, match=fragment):
            studio.open_upload(tmp_path / rgb_file, tmp_path / labels_file)


def test_the_hover_grid_holds_the_frame_to_a_hundredth_of_a_degree():
    from layergan.studio.view import display_grid, quantize

    frame = np.random.default_rng(0).normal(20, 15, (30, 1300)).astype(np.float32)
    shown, scale = display_grid(frame)
    assert shown.shape == (14, 640) and 2.0 <= scale < 2.1
    counts, offset, step = quantize(shown, calibrated=True)
    assert np.abs(offset + counts * step - shown).max() <= 0.005 + 1e-4  # float32 frames: 1e-5 at 300 K
    rows, cols = np.arange(shown.shape[0]), np.arange(shown.shape[1])
    assert np.array_equal(shown, frame[(rows * scale).astype(int)[:, None], (cols * scale).astype(int)[None, :]])


# ---- the server, and the page in a browser --------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(studio):
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from layergan.studio.page import launch

    import gradio

    _, url, _ = launch(studio, "127.0.0.1", free_port(), block=False)
    yield url
    gradio.close_all()


def http_status(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_server_refuses_bad_uploads_and_paths_and_keeps_running(server, studio, synth_root, tmp_path):
    from gradio_client import Client, handle_file

    assert server.startswith("http://127.0.0.1:")
    client = Client(server, verbose=False)
    (tmp_path / "notes.txt").write_text("not an image")
    outputs = client.predict(handle_file(str(tmp_path / "notes.txt")), handle_file(str(tmp_path / "notes.txt")),
                             "iron", api_name="/open_upload")
    assert "**Error:**" in outputs[-1] and "not an image" in outputs[-1]
    secret = next(synth_root.rglob("*.png"))
    for path in ("/etc/passwd", "../../../../etc/passwd", str(secret), "..%2F..%2F..%2Fetc%2Fpasswd"):
        code, body = http_status(f"{server}gradio_api/file={path}")
        assert code == 403 and b"root:" not in body and body[:4] != b"\x89PNG", (path, code)
    with pytest.raises(Exception):  # not a listed scene: refused before anything is read
        client.predict("../../../../etc/passwd", "iron", api_name="/open_scene")
    import httpx

    too_big = httpx.post(f"{server}gradio_api/upload", timeout=60,
                         files={"files": ("big.png", b"\0" * (20 * 2**20 + 1), "image/png")})
    assert too_big.status_code == 413  # refused before it is stored
    assert http_status(server)[0] == 200
    opened = client.predict(studio.library.names[0], "iron", api_name="/open_scene")
    assert opened[-1].startswith("Scene ")
    # the ambient shift moves the sliders of the classes not set by hand (views 3, controls 4, then the sliders)
    shifted = client.predict(3.0, "iron", api_name="/ambient")
    before, after = opened[7:7 + len(CLASSES.names)], shifted[3:3 + len(CLASSES.names)]
    visible = [k for k, update in enumerate(before) if update.get("visible")]
    assert visible and shifted[-1] == ""
    assert all(abs(after[k]["value"] - before[k]["value"] - 3.0) < 0.011 for k in visible)


def chromium_path() -> str | None:
    return os.environ.get("LAYERGAN_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    if chromium_path() is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set LAYERGAN_CHROMIUM); .ci/run installs it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=["--no-sandbox"])
        yield chromium
        chromium.close()


def shown_temperatures(page, view: str) -> np.ndarray:
    image = page.locator(f"#{view} img")
    a = {k: image.get_attribute(f"data-{k}") for k in ("gw", "gh", "offset", "step", "temps")}
    counts = np.frombuffer(base64.b64decode(a["temps"]), "<u2").reshape(int(a["gh"]), int(a["gw"]))
    return float(a["offset"]) + counts * float(a["step"])


def test_the_page_in_chromium(server, browser, studio, car_scene, synth_root, tmp_path):
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(server)
    page.click("#scene input")
    page.keyboard.type(car_scene)
    page.keyboard.press("Enter")
    page.wait_for_selector("#thermal img[data-temps]", timeout=30000)
    raw = studio.library.load(car_scene)
    cars = raw.class_map == CAR
    before = shown_temperatures(page, "thermal")
    assert before.shape == cars.shape

    old = page.locator("#thermal img").get_attribute("data-temps")
    box = page.locator("#class-car input[type='number']")
    box.fill("42")
    box.press("Enter")
    page.wait_for_function("old => document.querySelector('#thermal img').dataset.temps !== old", arg=old,
                           timeout=30000)
    after = shown_temperatures(page, "thermal")
    assert np.array_equal(after[~cars], before[~cars]), "pixels outside the cars changed"
    assert np.abs(after[cars] - before[cars]).mean() > 5.0

    ys, xs = np.nonzero(cars)
    y, x = int(ys[len(ys) // 2]), int(xs[len(xs) // 2])
    image = page.locator("#thermal img")
    bounds, natural = image.bounding_box(), image.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    zoom = int(image.get_attribute("data-zoom"))  # small frames are shown enlarged
    page.mouse.move(bounds["x"] + (x + 0.5) * zoom / natural[0] * bounds["width"],
                    bounds["y"] + (y + 0.5) * zoom / natural[1] * bounds["height"])
    readout = page.locator("#thermal .studio-hover")
    hover_x, hover_y = int(readout.get_attribute("data-x")), int(readout.get_attribute("data-y"))
    assert abs(hover_x - x) <= 1 and abs(hover_y - y) <= 1 and "°C at pixel" in readout.inner_text()

    # a click on the input selects that object
    picture = page.locator("#input-view img")
    frame, size = picture.bounding_box(), picture.evaluate("e => [e.naturalWidth, e.naturalHeight]")
    factor = size[0] // raw.rgb.shape[1]
    ratio = min(frame["width"] / size[0], frame["height"] / size[1], 1)
    left, top = (frame["width"] - size[0] * ratio) / 2, (frame["height"] - size[1] * ratio) / 2
    page.mouse.click(frame["x"] + left + (x + 0.5) * factor * ratio, frame["y"] + top + (y + 0.5) * factor * ratio)
    page.wait_for_selector("#instance", state="visible", timeout=30000)
    assert f"car/{raw.instance_map[y, x]}" in page.inner_text("#selected")

    page.click("#export")
    page.wait_for_selector("#files a", timeout=30000)
    downloads = {}
    for link in page.locator("#files a").all():
        href = link.get_attribute("href")
        response = page.request.get(href)
        assert response.ok
        downloads[href.rsplit("/", 1)[1]] = tmp_path / href.rsplit("/", 1)[1]
        downloads[href.rsplit("/", 1)[1]].write_bytes(response.body())
    scene_id = car_scene.split("/")[1]
    exported = np.load(downloads[f"{scene_id}.npy"])
    assert abs(float(readout.get_attribute("data-value")) - exported[hover_y, hover_x]) <= 0.5
    assert np.abs(exported - after).max() <= 0.005 + 1e-4  # the page showed what was exported

    out = tmp_path / "translated"
    result = cli("translate", "--checkpoint", studio.loaded.folder, "--input", synth_root, "--out", out,
                 "--temperatures", downloads[f"{scene_id}-temperatures.json"], "--format", "npy", "--quiet")
    assert result.exit_code == 0, result.output
    assert np.array_equal(np.load(next(out.rglob(f"{scene_id}.npy"))), exported)

    shot = tmp_path / "studio.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1400
    if os.environ.get("LAYERGAN_STUDIO_SCREENSHOT"):  # docs/images/studio.png is taken this way
        shutil.copy(shot, os.environ["LAYERGAN_STUDIO_SCREENSHOT"])
    page.close()

