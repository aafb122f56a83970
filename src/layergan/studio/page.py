"""The studio's web page (Gradio Blocks): scene picker and upload, sliders, the three views, export.

Every handler catches LayerganError and shows it in the status line: a bad upload or request leaves the server
running and the previous scene on screen. Renders run one at a time (concurrency_limit=1) and only the newest
pending slider value is rendered (trigger_mode="always_last"); gradio's progress overlay is the busy indicator.
"""

from __future__ import annotations

import html

import gradio as gr
import numpy as np

from layergan.errors import LayerganError
from layergan.studio.session import AMBIENT_RANGE, SceneState, Studio
from layergan.studio.view import (HOVER_SCRIPT, PALETTE_CHOICES, display_window, frame_html, input_factor,
                                  input_image)
from layergan.translate.render import edited_objects, object_mask

THEME_FONTS = ["ui-sans-serif", "system-ui", "sans-serif"]  # no web fonts: the page makes no outside request
PAGE_CSS = ".studio-image { width: 100%; } .studio-hover { font-family: monospace; min-height: 1.4em; }"


def build_page(studio: Studio) -> gr.Blocks:
    classes, unit = studio.classes, studio.unit
    with gr.Blocks(title="layergan studio") as page:
        state = gr.State(None)
        gr.Markdown(f"## layergan studio\n`{studio.loaded.folder}`: {studio.loaded.method}, "
                    f"{studio.loaded.size} px, temperatures in {unit}. Click an object in the input to select it; "
                    "hover over a thermal view to read its temperature.")
        with gr.Row():
            scene = gr.Dropdown(studio.library.names, value=None, label="scene from --data", scale=3,
                                elem_id="scene")
            with gr.Accordion("or upload a scene (at most 20 MB and 4096x4096)", open=False, elem_id="upload"):
                with gr.Row():
                    rgb_upload = gr.File(label="RGB image", elem_id="upload-rgb", height=90)
                    labels_upload = gr.File(label="segmentation PNG (class colours or ids)", elem_id="upload-labels",
                                            height=90)
                open_upload = gr.Button("open the upload", elem_id="open-upload")
        status = gr.Markdown("Pick a scene or upload one.", elem_id="status")
        with gr.Row():
            input_view = gr.Image(label="input (click to select an object)", interactive=False, elem_id="input-view", format="png",
                                  height=320)
            thermal_view = gr.HTML(elem_id="thermal-view")
            truth_view = gr.HTML(elem_id="truth-view")
        with gr.Row():
            with gr.Column():
                palette = gr.Radio(list(PALETTE_CHOICES), value="iron", label="palette", elem_id="palette")
                ambient = gr.Slider(*AMBIENT_RANGE, value=0.0, step=0.1, label=f"ambient shift ({unit})",
                                    info="moves every object you have not set", elem_id="ambient")
                with gr.Row():
                    reset = gr.Button("reset to the data's temperatures", elem_id="reset")
                    sample = gr.Button("sample (auto)", elem_id="sample")
                selected = gr.Markdown("No object selected.", elem_id="selected")
                instance = gr.Slider(-20, 60, value=0, step=0.1, label=f"selected object ({unit})", visible=False,
                                     elem_id="instance")
            with gr.Column():
                class_sliders = [gr.Slider(*studio.slider_range(k), value=0, step=0.1, visible=False,
                                           label=f"{name} ({unit})", elem_id=f"class-{name}")
                                 for k, name in enumerate(classes.names)]
            with gr.Column():
                errors = gr.Markdown(elem_id="errors")
                export = gr.Button("export", variant="primary", elem_id="export")
                files = gr.File(label="exported files", file_count="multiple", interactive=False, elem_id="files")

        views = [thermal_view, truth_view, errors]
        controls = [input_view, selected, instance, ambient, *class_sliders]

        def show(current: SceneState, style: str) -> list:
            truth = current.raw.thermal
            temperatures = current.temperatures()
            edited = [temperatures[k] for k in edited_objects(current.base, temperatures)]
            window = display_window(current.base_frame, current.frame, truth, include=tuple(edited))
            rows = studio.class_errors(current)
            table = "" if not rows else (f"| class | render ({unit}) | truth ({unit}) | MAE ({unit}) |\n|---|---|---|---|\n"
                                         + "\n".join(f"| {r['class']} | {r['render']:.2f} | {r['truth']:.2f} | "
                                                     f"{r['mae']:.2f} |" for r in rows))
            return [frame_html(current.frame, f"synthesized ({current.base_source} + your edits)", unit, style,
                               window, "thermal", studio.units.calibrated),
                    frame_html(truth, "ground truth", unit, style, window, "truth", studio.units.calibrated), table]

        def control_values(current: SceneState) -> list:
            mask = object_mask(current.raw, [current.selected]) if current.selected else None
            present = set(current.classes_present())
            updates = [input_image(current.raw.rgb, mask), _selected_text(studio, current), _instance_update(studio, current),
                       gr.update(value=current.ambient_shift)]
            for k in range(len(classes)):
                if k in present:
                    low, high = studio.slider_range(k)
                    value = current.class_value(k)
                    updates.append(gr.update(visible=True, value=round(value, 2), minimum=min(low, np.floor(value)),
                                             maximum=max(high, np.ceil(value))))
                else:
                    updates.append(gr.update(visible=False))
            return updates

        def guarded(action, failure_outputs: int):
            """Run `action`; on a LayerganError leave every output as it was and say why in the status line."""
            def run(*args):
                try:
                    return action(*args)
                except LayerganError as error:
                    return [gr.update()] * failure_outputs + [f"**Error:** {html.escape(str(error))}"]
            return run

        every = [state, *views, *controls, status]

        def opened(current: SceneState, style: str) -> list:
            studio.render(current)
            return [current, *show(current, style), *control_values(current),
                    f"Scene `{current.name}`: {len(current.base)} objects, base temperatures from "
                    f"{current.base_source}."]

        scene.change(guarded(lambda name, style: opened(studio.open(name), style) if name else
                             [gr.update()] * (len(every) - 1) + ["Pick a scene or upload one."], len(every) - 1),
                     [scene, palette], every, concurrency_limit=1, api_name="open_scene")
        open_upload.click(guarded(lambda rgb, labels, style: _open_upload(studio, rgb, labels, style, opened),
                                  len(every) - 1), [rgb_upload, labels_upload, palette], every, concurrency_limit=1,
                          api_name="open_upload")
        reset.click(guarded(lambda current, style: opened(studio.reset(_need(current)), style), len(every) - 1),
                    [state, palette], every, concurrency_limit=1)
        sample.click(guarded(lambda current, style: opened(studio.sample(_need(current)), style), len(every) - 1),
                     [state, palette], every, concurrency_limit=1)

        def rendered(current: SceneState, style: str) -> list:
            studio.render(current)
            return [current, *show(current, style), ""]

        render_outputs = [state, *views, status]
        for k, slider in enumerate(class_sliders):
            def set_class(value, current, style, k=k):
                _need(current).class_values[k] = float(value)
                return rendered(current, style)
            slider.input(guarded(set_class, len(render_outputs) - 1), [slider, state, palette], render_outputs,
                         concurrency_limit=1, trigger_mode="always_last", show_progress="minimal")

        def set_ambient(value, current, style):  # the class sliders of untouched classes follow the shift
            _need(current).ambient_shift = float(value)
            return rendered(current, style)[:-1] + control_values(current)[4:] + [""]
        ambient_outputs = [state, *views, *class_sliders, status]  # status last, as guarded() expects
        ambient.input(guarded(set_ambient, len(ambient_outputs) - 1), [ambient, state, palette], ambient_outputs,
                      concurrency_limit=1, trigger_mode="always_last", show_progress="minimal", api_name="ambient")

        def set_instance(value, current, style):
            current = _need(current)
            if current.selected is None:
                raise _NoSelection()
            current.instance_values[current.selected] = float(value)
            return rendered(current, style)
        instance.input(guarded(set_instance, len(render_outputs) - 1), [instance, state, palette], render_outputs,
                       concurrency_limit=1, trigger_mode="always_last", show_progress="minimal")

        def select(current, event: gr.SelectData):
            current = _need(current)
            factor = input_factor(current.raw.rgb.shape[:2])
            x, y = (int(v) // factor for v in event.index)
            studio.select(current, x, y)
            return [current, *control_values(current)[:3]]
        input_view.select(select, [state], [state, input_view, selected, instance])

        palette.change(lambda current, style: show(current, style) if current else [gr.update()] * len(views),
                       [state, palette], views)

        def exported(current):
            paths = studio.export(_need(current))
            return [[str(p) for p in paths], f"Exported `{current.name}`: .npy ({unit}), 16-bit TIFF, 8-bit PNG, "
                    "the temperatures JSON (for `layergan translate --temperatures`), and all of it as a zip."]
        export.click(guarded(exported, 1), [state], [files, status], concurrency_limit=1, api_name="export")
    return page


class _NoSelection(LayerganError):
    def __init__(self):
        super().__init__("click an object in the input first")


class _NoScene(LayerganError):
    def __init__(self):
        super().__init__("open a scene first")


def _need(current: SceneState | None) -> SceneState:
    if current is None:
        raise _NoScene()
    return current


def _open_upload(studio: Studio, rgb, labels, style, opened) -> list:
    if rgb is None or labels is None:
        raise LayerganError("upload both the RGB image and its segmentation PNG")
    return opened(studio.open_upload(_path(rgb), _path(labels)), style)


def _path(upload) -> str:
    return upload if isinstance(upload, str) else upload.name


def _selected_text(studio: Studio, current: SceneState) -> str:
    if current.selected is None:
        return "No object selected: click one in the input."
    key = current.selected
    pixels = current.pixels.get(key, 0)
    return f"Selected **{studio.object_label(key)}** ({pixels} pixels)."


def _instance_update(studio: Studio, current: SceneState):
    if current.selected is None or current.selected not in current.base:
        return gr.update(visible=False)
    value = current.temperatures()[current.selected]
    low, high = studio.slider_range(current.selected[0])
    return gr.update(visible=True, value=round(value, 2), minimum=min(low, np.floor(value)),
                     maximum=max(high, np.ceil(value)), label=f"{studio.object_label(current.selected)} ({studio.unit})")


def launch(studio: Studio, host: str = "127.0.0.1", port: int = 7860, block: bool = True):
    """Serve the page; returns gradio's (app, local url, share url) when `block` is False (tests)."""
    page = build_page(studio)
    page.queue(default_concurrency_limit=1)
    theme = gr.themes.Default(font=THEME_FONTS, font_mono=["ui-monospace", "monospace"])
    return page.launch(server_name=host, server_port=port, prevent_thread_lock=not block, share=False,
                       inbrowser=False, max_file_size="20mb", head=HOVER_SCRIPT, theme=theme, ssr_mode=False,
                       footer_links=[], quiet=not block, mcp_server=False, css=PAGE_CSS)
