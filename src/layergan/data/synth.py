"""Procedural ThermalWorld-like scenes with plausible thermal physics.

A scene is painted back to front (painter's algorithm) into parallel maps:
class, instance, *part* (skin, clothing, glass, engine, ...), base temperature,
texture amplitude and RGB. The thermal frame is then

    base + amplitude * texture_noise, blurred by the optics, plus sensor noise.

RGB colours are drawn from a generator of their own, independent of every
temperature draw, so colour does not predict temperature. Everything depends
only on the scene seed, never on worker count or order.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from scipy import ndimage

from layergan.classes import default_classes

CLASSES = default_classes()
C = {name: i for i, name in enumerate(CLASSES.names)}


class Part(IntEnum):
    """Physical surface kinds, kept for tests and debugging (not written to disk)."""

    SKY = 0
    ROAD = 1
    LANE_MARK = 2
    WALL = 3
    WINDOW = 4
    TRUNK = 5
    FOLIAGE = 6
    SKIN = 7
    CLOTHING = 8
    BODY = 9
    GLASS = 10
    ENGINE = 11
    TYRE = 12
    EXHAUST = 13


@dataclass
class Scene:
    rgb: np.ndarray  # (H, W, 3) uint8
    class_map: np.ndarray  # (H, W) uint8
    instance_map: np.ndarray  # (H, W) uint8, 0 = no instance
    thermal: np.ndarray  # (H, W) float32 °C, after optics and sensor noise
    oracle: np.ndarray  # (H, W) float32 °C: the noiseless part temperatures through the same optics
    part_map: np.ndarray  # (H, W) uint8 Part
    ambient: float
    is_day: bool
    objects: list[dict]  # one per instance: id, class, and the drawn body colour where relevant


class _Canvas:
    """Parallel maps plus a paint operation restricted to a bounding box."""

    def __init__(self, height: int, width: int):
        self.h, self.w = height, width
        self.cls = np.zeros((height, width), np.uint8)
        self.inst = np.zeros((height, width), np.uint8)
        self.part = np.zeros((height, width), np.uint8)
        self.temp = np.zeros((height, width), np.float32)
        self.amp = np.zeros((height, width), np.float32)
        self.rgb = np.zeros((height, width, 3), np.float32)

    def paint(self, y0, y1, x0, x1, mask, cls, inst, part, temp, amp, color):
        """Paint where `mask` (shape of the clipped box, or None for all) is set."""
        y0c, y1c, x0c, x1c = max(int(y0), 0), min(int(y1), self.h), max(int(x0), 0), min(int(x1), self.w)
        if y0c >= y1c or x0c >= x1c:
            return
        box = (slice(y0c, y1c), slice(x0c, x1c))
        if mask is not None:
            mask = mask[y0c - int(y0) : y1c - int(y0), x0c - int(x0) : x1c - int(x0)]
            if not mask.any():
                return
        sel = mask if mask is not None else np.ones((y1c - y0c, x1c - x0c), bool)
        self.cls[box][sel] = cls
        self.inst[box][sel] = inst
        self.part[box][sel] = part
        self.temp[box][sel] = temp
        self.amp[box][sel] = amp
        self.rgb[box][sel] = color

    def rect(self, y0, y1, x0, x1, **kw):
        self.paint(y0, y1, x0, x1, None, **kw)

    def ellipse(self, cy, cx, ry, rx, **kw):
        y0, y1, x0, x1 = int(cy - ry), int(cy + ry) + 1, int(cx - rx), int(cx + rx) + 1
        yy, xx = np.ogrid[y0:y1, x0:x1]
        mask = ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0
        self.paint(y0, y1, x0, x1, mask, **kw)


def _noise_field(rng: np.random.Generator, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth unit-variance noise with features about `cell` pixels wide."""
    gh, gw = h // cell + 2, w // cell + 2
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    field = ndimage.zoom(grid, (h / (gh - 1), w / (gw - 1)), order=1, prefilter=False)[:h, :w]
    if field.shape != (h, w):
        field = np.pad(field, ((0, h - field.shape[0]), (0, w - field.shape[1])), mode="edge")
    return field / max(float(field.std()), 1e-6)


class SceneGenerator:
    """Draws one scene from a seed. `height`, `width` in pixels (at least 32)."""

    def __init__(self, height: int, width: int):
        self.h, self.w = height, width

    def __call__(self, seed_sequence: np.random.SeedSequence) -> Scene:
        thermal_seed, color_seed, layout_seed, noise_seed = seed_sequence.spawn(4)
        self.rt = np.random.default_rng(thermal_seed)  # temperatures only
        self.rc = np.random.default_rng(color_seed)  # colours only
        self.rl = np.random.default_rng(layout_seed)  # geometry only
        self.canvas = _Canvas(self.h, self.w)
        self.next_instance = 1
        self.objects: list[dict] = []
        self.ambient = float(self.rt.uniform(-15, 35))
        self.is_day = bool(self.rt.random() < 0.5)
        self.horizon = int(self.h * self.rl.uniform(0.32, 0.48))
        self._sky_and_road()
        self._buildings()
        self._ground_objects()
        return self._render(np.random.default_rng(noise_seed))

    # -- helpers ---------------------------------------------------------
    def _color(self, base=None, spread=60.0):
        if base is None:
            return self.rc.uniform(0, 255, 3).astype(np.float32)
        return np.clip(np.asarray(base, np.float32) + self.rc.uniform(-spread, spread, 3), 0, 255)

    def _new_instance(self, cls: int, **info) -> int:
        inst = self.next_instance
        self.next_instance = min(self.next_instance + 1, 254)
        self.objects.append({"id": inst, "class": CLASSES.names[cls], **info})
        return inst

    def _sun(self) -> float:
        """Solar heating factor: 0 at night, 0.4..1 by day (clouds)."""
        return float(self.rt.uniform(0.4, 1.0)) if self.is_day else 0.0

    # -- layers ----------------------------------------------------------
    def _sky_and_road(self):
        a, cv = self.ambient, self.canvas
        sky_t = a - self.rt.uniform(15, 35)  # clear sky is far colder than the air
        cv.rect(0, self.horizon, 0, self.w, cls=C["background"], inst=0, part=Part.SKY, temp=sky_t, amp=2.5,
                color=self._color((120, 160, 230) if self.is_day else (20, 25, 50), 30))
        # the sky warms toward the horizon (longer path through warm air)
        rows = np.linspace(0, 1, self.horizon, dtype=np.float32)[:, None]
        cv.temp[: self.horizon] += (a - 3 - sky_t) * rows**2
        road_inst = self._new_instance(C["road"])
        road_t = a + (self.rt.uniform(8, 20) * self._sun() if self.is_day else self.rt.uniform(0.5, 3))
        cv.rect(self.horizon, self.h, 0, self.w, cls=C["road"], inst=road_inst, part=Part.ROAD, temp=road_t,
                amp=1.2, color=self._color((90, 90, 90), 25))
        # lane markings: white paint has lower emissivity, so it looks slightly colder
        mark_y = int(self.horizon + (self.h - self.horizon) * self.rl.uniform(0.45, 0.7))
        thick = max(1, (self.h - self.horizon) // 40)
        for x in range(int(self.rl.uniform(0, 0.1) * self.w), self.w, max(8, self.w // 8)):
            cv.rect(mark_y, mark_y + thick, x, x + self.w // 16, cls=C["road"], inst=road_inst, part=Part.LANE_MARK,
                    temp=road_t - self.rt.uniform(1, 3), amp=0.5, color=self._color((235, 235, 225), 15))

    def _buildings(self):
        a, cv, h = self.ambient, self.canvas, self.h
        x = -self.rl.uniform(0, 0.1) * self.w
        while x < self.w:
            bw = self.w * self.rl.uniform(0.12, 0.3)
            top = self.horizon - h * self.rl.uniform(0.12, 0.4)
            base = self.horizon + h * self.rl.uniform(0.0, 0.05)
            inst = self._new_instance(C["building"])
            wall_t = a + (self.rt.uniform(1, 6) * self._sun() if self.is_day else self.rt.uniform(0.3, 2))
            cv.rect(top, base, x, x + bw, cls=C["building"], inst=inst, part=Part.WALL, temp=wall_t, amp=0.7,
                    color=self._color())
            win_w, win_h = max(2, bw / 9), max(2, (base - top) / 10)
            for wy in np.arange(top + win_h, base - 1.5 * win_h, 2 * win_h):
                for wx in np.arange(x + win_w, x + bw - 1.5 * win_w, 2 * win_w):
                    if self.is_day:  # glass reflects the cold sky
                        win_t = a - self.rt.uniform(2, 8)
                    else:  # heat leaks through glass at night; lit rooms leak more
                        win_t = a + self.rt.uniform(4, 14)
                    cv.rect(wy, wy + win_h, wx, wx + win_w, cls=C["building"], inst=inst, part=Part.WINDOW,
                            temp=win_t, amp=0.4, color=self._color((40, 50, 70) if self.is_day else (230, 200, 120), 30))
            x += bw + self.w * self.rl.uniform(0.0, 0.08)

    def _ground_objects(self):
        n = int(self.rl.integers(4, 11))
        kinds = self.rl.choice(["person", "car", "minibus", "bus", "truck", "tree"], size=n,
                               p=[0.3, 0.3, 0.08, 0.07, 0.07, 0.18])
        depth = self.rl.uniform(0.05, 1.15, size=n)  # 0 at the horizon, 1 at the bottom edge
        for kind, d in sorted(zip(kinds, depth), key=lambda item: item[1]):  # far objects first
            base_y = self.horizon + d * (self.h - self.horizon)
            scale = 0.15 + 0.85 * d  # perspective: nearer is larger
            cx = self.rl.uniform(-0.05, 1.05) * self.w
            getattr(self, f"_draw_{kind}")(base_y, cx, scale)

    # -- objects ---------------------------------------------------------
    def _draw_tree(self, base_y, cx, scale):
        a, cv = self.ambient, self.canvas
        height = self.h * 0.6 * scale * self.rl.uniform(0.7, 1.2)
        inst = self._new_instance(C["tree"])
        # transpiration keeps leaves at or below air temperature
        leaf_t = a - self.rt.uniform(1, 4) + (1.5 * self._sun() if self.is_day else 0)
        trunk_w = height * 0.08
        cv.rect(base_y - height * 0.45, base_y, cx - trunk_w / 2, cx + trunk_w / 2, cls=C["tree"], inst=inst,
                part=Part.TRUNK, temp=leaf_t + self.rt.uniform(0, 1.5), amp=0.5, color=self._color((90, 60, 40), 25))
        cv.ellipse(base_y - height * 0.65, cx, height * 0.35, height * 0.28, cls=C["tree"], inst=inst,
                   part=Part.FOLIAGE, temp=leaf_t, amp=1.6, color=self._color((50, 110, 40), 35))

    def _draw_person(self, base_y, cx, scale):
        a, cv = self.ambient, self.canvas
        height = self.h * 0.42 * scale * self.rl.uniform(0.85, 1.1)
        width = height * 0.28
        inst = self._new_instance(C["person"])
        skin_t = float(np.clip(33.0 + 0.08 * (a - 20) + self.rt.normal(0, 0.6), 28.0, 36.0))
        # clothing surface lies between skin and air; thicker clothes sit closer to the air
        cloth_t = a + (skin_t - a) * self.rt.uniform(0.3, 0.6)
        trouser_t = a + (skin_t - a) * self.rt.uniform(0.25, 0.55)
        kw = dict(cls=C["person"], inst=inst)
        top = base_y - height
        cv.rect(top + 0.45 * height, base_y, cx - width * 0.4, cx - width * 0.05, part=Part.CLOTHING,
                temp=trouser_t, amp=0.8, color=self._color(), **kw)
        cv.rect(top + 0.45 * height, base_y, cx + width * 0.05, cx + width * 0.4, part=Part.CLOTHING,
                temp=trouser_t, amp=0.8, color=self._color(), **kw)
        shirt = self._color()
        cv.rect(top + 0.17 * height, top + 0.52 * height, cx - width / 2, cx + width / 2, part=Part.CLOTHING,
                temp=cloth_t, amp=1.0, color=shirt, **kw)
        for side in (-1, 1):  # arms in the same garment, bare hands
            ax = cx + side * width * 0.62
            cv.rect(top + 0.18 * height, top + 0.48 * height, ax - width * 0.12, ax + width * 0.12,
                    part=Part.CLOTHING, temp=cloth_t, amp=1.0, color=shirt, **kw)
            cv.ellipse(top + 0.51 * height, ax, width * 0.09, width * 0.09, part=Part.SKIN, temp=skin_t - 1.5,
                       amp=0.3, color=self._color((200, 160, 130), 50), **kw)
        cv.ellipse(top + 0.09 * height, cx, 0.09 * height, width * 0.3, part=Part.SKIN, temp=skin_t, amp=0.3,
                   color=self._color((200, 160, 130), 50), **kw)
        # hair or a hat covers the top of the head; it is near air temperature
        cv.ellipse(top + 0.03 * height, cx, 0.04 * height, width * 0.3, part=Part.CLOTHING,
                   temp=a + (skin_t - a) * 0.4, amp=0.5, color=self._color(), **kw)

    def _vehicle(self, cls_name, base_y, cx, scale, length, height, cabin, window_rows):
        """A side view: body, a cabin with glass, tyres, a warm engine and an exhaust."""
        a, cv, rt = self.ambient, self.canvas, self.rt
        body_color = self._color()
        inst = self._new_instance(C[cls_name], body_rgb=[float(v) for v in body_color])
        kw = dict(cls=C[cls_name], inst=inst)
        running = rt.random() < 0.7
        body_t = a + (rt.uniform(2, 10) * self._sun() if self.is_day else rt.uniform(-1.0, 1.0))
        facing = 1 if self.rl.random() < 0.5 else -1
        L, H = self.w * length * scale, self.h * height * scale
        x0, x1, top = cx - L / 2, cx + L / 2, base_y - H
        wheel_r = H * 0.16
        body_top = top + H * cabin[0]
        cv.rect(body_top, base_y - wheel_r * 0.6, x0, x1, part=Part.BODY, temp=body_t, amp=0.5, color=body_color, **kw)
        cab_x0, cab_x1 = x0 + L * cabin[1], x1 - L * cabin[2]
        if facing < 0:
            cab_x0, cab_x1 = x0 + L * cabin[2], x1 - L * cabin[1]
        cv.rect(top, body_top + 1, cab_x0, cab_x1, part=Part.BODY, temp=body_t, amp=0.5, color=body_color, **kw)
        sky_reflection_t = a - rt.uniform(4, 12)  # glass mirrors the cold sky
        rows_h = (body_top - top) / (window_rows + 0.5)
        n_win = max(1, int((cab_x1 - cab_x0) / max(rows_h * 1.6, 2)))
        win_w = (cab_x1 - cab_x0) / n_win
        for r in range(window_rows):
            wy = top + rows_h * (0.3 + r)
            for k in range(n_win):
                wx = cab_x0 + k * win_w
                cv.rect(wy, wy + rows_h * 0.7, wx + win_w * 0.1, wx + win_w * 0.9, part=Part.GLASS,
                        temp=sky_reflection_t + rt.normal(0, 0.5), amp=0.3, color=self._color((60, 70, 90), 30), **kw)
        front = x1 if facing > 0 else x0
        eng_x0, eng_x1 = sorted((front, front - facing * L * 0.22))
        eng_t = a + (rt.uniform(12, 35) if running else rt.uniform(0, 3))
        cv.rect(body_top + H * 0.05, base_y - wheel_r, eng_x0, eng_x1, part=Part.ENGINE, temp=eng_t, amp=1.5,
                color=body_color, **kw)
        tyre_t = a + (rt.uniform(6, 15) if running else rt.uniform(0, 2))
        for wx in (x0 + L * 0.18, x1 - L * 0.18):
            cv.ellipse(base_y - wheel_r, wx, wheel_r, wheel_r, part=Part.TYRE, temp=tyre_t, amp=0.6,
                       color=self._color((25, 25, 25), 10), **kw)
        rear = x0 if facing > 0 else x1
        exhaust_t = a + (rt.uniform(25, 60) if running else rt.uniform(0, 4))
        cv.ellipse(base_y - wheel_r * 0.9, rear + facing * L * 0.03, wheel_r * 0.25, L * 0.03, part=Part.EXHAUST,
                   temp=exhaust_t, amp=2.0, color=self._color((60, 60, 60), 10), **kw)

    def _draw_car(self, base_y, cx, scale):
        self._vehicle("car", base_y, cx, scale, 0.32, 0.17, cabin=(0.45, 0.25, 0.18), window_rows=1)

    def _draw_minibus(self, base_y, cx, scale):
        self._vehicle("minibus", base_y, cx, scale, 0.38, 0.26, cabin=(0.15, 0.05, 0.05), window_rows=1)

    def _draw_bus(self, base_y, cx, scale):
        self._vehicle("bus", base_y, cx, scale, 0.65, 0.32, cabin=(0.1, 0.02, 0.02), window_rows=2)

    def _draw_truck(self, base_y, cx, scale):
        self._vehicle("truck", base_y, cx, scale, 0.55, 0.33, cabin=(0.3, 0.0, 0.72), window_rows=1)

    # -- sensor ----------------------------------------------------------
    def _render(self, rn: np.random.Generator) -> Scene:
        cv, h, w = self.canvas, self.h, self.w
        texture = 0.6 * _noise_field(rn, h, w, max(4, w // 12)) + 0.4 * _noise_field(rn, h, w, max(2, w // 60))
        scene_t = cv.temp + cv.amp * texture
        sigma = rn.uniform(0.6, 1.2) * max(h, w) / 640  # optical blur, in pixels at this size
        thermal = ndimage.gaussian_filter(scene_t, sigma=sigma, mode="nearest")
        # the best prediction the inputs allow: texture and sensor noise are unpredictable from RGB and labels
        oracle = ndimage.gaussian_filter(cv.temp, sigma=sigma, mode="nearest")
        thermal += rn.normal(0, 0.08, (h, w)).astype(np.float32)  # temporal sensor noise (NETD)
        thermal += rn.normal(0, 0.05, (1, w)).astype(np.float32)  # column fixed-pattern noise
        light = 1.0 if self.is_day else 0.45
        rgb_noise = rn.normal(0, 6, (h, w, 1)).astype(np.float32)
        rgb = ndimage.gaussian_filter(cv.rgb * light + rgb_noise, sigma=(0.5, 0.5, 0))
        return Scene(
            rgb=np.clip(rgb, 0, 255).astype(np.uint8),
            class_map=cv.cls,
            instance_map=cv.inst,
            thermal=thermal.astype(np.float32),
            oracle=oracle.astype(np.float32),
            part_map=cv.part,
            ambient=self.ambient,
            is_day=self.is_day,
            objects=self.objects,
        )


def scene_seed(seed: int, split: str, index: int) -> np.random.SeedSequence:
    """Seed of one scene: depends on (seed, split, index) only, so workers cannot change results."""
    split_code = int.from_bytes(split.encode()[:8].ljust(8, b"\0"), "little")
    return np.random.SeedSequence([seed, split_code, index])


def make_scene(seed: int, split: str, index: int, height: int, width: int) -> Scene:
    return SceneGenerator(height, width)(scene_seed(seed, split, index))


def oracle_frame(seed: int, split: str, index: int, height: int, width: int) -> np.ndarray:
    """The oracle of a written scene, regenerated from its seed (nothing extra is stored)."""
    return make_scene(seed, split, index, height, width).oracle
