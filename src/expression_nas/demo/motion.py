"""Synthetic facial motions: FACS-like action units as smooth local displacement fields.

Each action unit (AU) is a few Gaussian-windowed displacements anchored on points derived
from the five facial landmarks (brows, lids, cheeks, nose wings, lips, chin), with sizes and
distances in units of the eye distance. An expression is a weighted set of AUs (happiness =
AU6 + AU12, surprise = AU1 + AU2 + AU5 + AU26, ...). A clip scales the apex field with a
raised-cosine onset -> apex -> offset envelope and adds per-sample nuisances: random
amplitude and timing (chosen by the caller), head drift, illumination flicker and sensor
noise. Posed (FER) samples add the AUs' appearance changes (``AU_SHADING``: an open mouth,
teeth, furrows), a head tilt and a side light. Frames are warped with
``scipy.ndimage.map_coordinates`` (bilinear).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
from scipy.ndimage import map_coordinates

from expression_nas.demo.faces import Face

#: One AU component: anchor point names (image-left, image-right, or one central point),
#: displacement (u outward from the face midline, v downward) and Gaussian radius, both in
#: units of the eye distance (displacements are then scaled by the clip's amplitude).
Component = tuple[tuple[str, ...], tuple[float, float], float]

ACTION_UNITS: dict[str, tuple[Component, ...]] = {
    "1": ((("brow_inner_l", "brow_inner_r"), (0.0, -1.0), 0.16),),  # inner brow raiser
    "2": ((("brow_outer_l", "brow_outer_r"), (0.0, -1.0), 0.16),),  # outer brow raiser
    "4": (  # brow lowerer: brows down and together
        (("brow_l", "brow_r"), (-0.5, 0.8), 0.2),
        (("glabella",), (0.0, 0.3), 0.12),
    ),
    "5": ((("lid_upper_l", "lid_upper_r"), (0.0, -0.6), 0.08),),  # upper lid raiser
    "6": (  # cheek raiser
        (("cheek_l", "cheek_r"), (0.1, -0.7), 0.2),
        (("lid_lower_l", "lid_lower_r"), (0.0, -0.4), 0.08),
    ),
    "7": ((("lid_lower_l", "lid_lower_r"), (0.0, -0.5), 0.08),),  # lid tightener
    "9": (  # nose wrinkler
        (("nose_wing_l", "nose_wing_r"), (0.1, -0.7), 0.12),
        (("glabella",), (0.0, 0.5), 0.12),
    ),
    "10": (  # upper lip raiser
        (("lip_upper",), (0.0, -0.7), 0.16),
        (("mouth_l", "mouth_r"), (0.0, -0.3), 0.12),
    ),
    "12": ((("mouth_l", "mouth_r"), (0.6, -0.8), 0.16),),  # lip corner puller
    "14": ((("mouth_l", "mouth_r"), (0.5, -0.1), 0.12),),  # dimpler
    "15": ((("mouth_l", "mouth_r"), (0.15, 0.9), 0.16),),  # lip corner depressor
    "17": (  # chin raiser
        (("chin",), (0.0, -0.7), 0.25),
        (("lip_lower",), (0.0, -0.4), 0.14),
    ),
    "20": ((("mouth_l", "mouth_r"), (0.9, 0.15), 0.16),),  # lip stretcher
    "23": ((("mouth_l", "mouth_r"), (-0.4, 0.0), 0.13),),  # lip tightener
    "24": (  # lip pressor
        (("lip_upper",), (0.0, 0.45), 0.12),
        (("lip_lower",), (0.0, -0.55), 0.12),
    ),
    "25": ((("lip_lower",), (0.0, 0.4), 0.14),),  # lips part
    "26": (  # jaw drop
        (("lip_lower",), (0.0, 0.6), 0.2),
        (("chin",), (0.0, 0.9), 0.35),
    ),
}

#: Appearance changes of an AU that a warp of the neutral face cannot produce (a mouth opening
#: onto a dark cavity, teeth, furrows and wrinkles, eye whites). One component: anchor points
#: (as in ``ACTION_UNITS``), offset (u outward, v down) and Gaussian radii (across, down) in
#: eye distances, and the change of gray level at intensity 1 and ``shading`` 1.
ShadeComponent = tuple[tuple[str, ...], tuple[float, float], tuple[float, float], float]

AU_SHADING: dict[str, tuple[ShadeComponent, ...]] = {
    "1": ((("brow_inner_l", "brow_inner_r"), (0.0, -0.25), (0.15, 0.04), -35.0),),  # wrinkles
    "2": ((("brow_outer_l", "brow_outer_r"), (0.0, -0.25), (0.18, 0.04), -30.0),),
    "4": ((("glabella",), (0.0, 0.0), (0.04, 0.14), -45.0),),  # vertical furrow between brows
    "5": ((("lid_upper_l", "lid_upper_r"), (0.0, 0.12), (0.12, 0.04), 12.0),),  # eye whites
    "6": ((("cheek_l", "cheek_r"), (0.0, -0.05), (0.16, 0.1), 25.0),),  # raised, lit cheeks
    "7": ((("lid_lower_l", "lid_lower_r"), (0.0, 0.02), (0.12, 0.03), -30.0),),
    "9": ((("nose_wing_l", "nose_wing_r"), (-0.1, -0.3), (0.05, 0.1), -40.0),),  # bridge folds
    "10": ((("lip_upper",), (0.0, 0.08), (0.22, 0.04), -40.0),),  # upper teeth's shadow
    "12": (  # nasolabial folds and a toothy smile
        (("mouth_l", "mouth_r"), (0.12, -0.25), (0.04, 0.14), -40.0),
        (("lip_upper",), (0.0, 0.1), (0.25, 0.04), 50.0),
    ),
    "14": ((("mouth_l", "mouth_r"), (0.08, 0.0), (0.04, 0.05), -40.0),),  # dimples
    "15": ((("mouth_l", "mouth_r"), (0.05, 0.2), (0.04, 0.12), -20.0),),
    "17": ((("chin",), (0.0, -0.05), (0.18, 0.06), -25.0),),
    "20": ((("lip_upper",), (0.0, 0.1), (0.35, 0.03), -25.0),),  # a stretched dark lip line
    "23": ((("lip_upper",), (0.0, 0.1), (0.18, 0.03), -35.0),),
    "24": ((("lip_upper",), (0.0, 0.1), (0.22, 0.03), -45.0),),
    "25": ((("lip_upper",), (0.0, 0.15), (0.2, 0.05), -40.0),),
    "26": ((("lip_upper",), (0.0, 0.3), (0.18, 0.16), -70.0),),  # open mouth
}

#: Expression -> AU intensities. "R"/"L" marks a one-sided AU (FACS: the subject's right or
#: left, i.e. the image's left or right side of a frontal face).
EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "happiness": {"6": 0.6, "12": 1.0},
    "surprise": {"1": 1.0, "2": 0.9, "5": 0.5, "26": 0.6},
    "disgust": {"4": 0.5, "9": 1.0, "10": 0.6},
    "repression": {"17": 0.8, "24": 1.0},
    "anger": {"4": 1.0, "7": 0.6, "23": 0.6},
    "contempt": {"R12": 0.8, "R14": 0.6},
    "sadness": {"1": 0.7, "4": 0.4, "15": 1.0},
    "fear": {"1": 0.8, "2": 0.5, "4": 0.6, "5": 0.7, "20": 1.0},
}

#: Typical apex amplitudes (fraction of the eye distance moved by an AU of intensity 1).
MICRO_AMPLITUDE = 0.05
MACRO_AMPLITUDE = 0.3


def facial_points(landmarks: np.ndarray) -> tuple[dict[str, np.ndarray], float, np.ndarray]:
    """Anchor points of the AUs from the five landmarks.

    Returns the points (x, y), the eye distance and the face's unit axes [2, 2] (row 0 points
    from the left to the right eye, row 1 points down the face).
    """
    left_eye, right_eye, nose, mouth_left, mouth_right = np.asarray(landmarks, dtype=np.float64)
    distance = float(np.linalg.norm(right_eye - left_eye))
    across = (right_eye - left_eye) / max(distance, 1e-6)
    down = np.array([-across[1], across[0]])
    mouth = (mouth_left + mouth_right) / 2
    eyes = (left_eye + right_eye) / 2

    def at(base: np.ndarray, u: float, v: float) -> np.ndarray:
        return base + distance * (u * across + v * down)

    points = {
        "brow_inner_l": at(left_eye, 0.22, -0.32),
        "brow_inner_r": at(right_eye, -0.22, -0.32),
        "brow_outer_l": at(left_eye, -0.25, -0.30),
        "brow_outer_r": at(right_eye, 0.25, -0.30),
        "brow_l": at(left_eye, 0.0, -0.34),
        "brow_r": at(right_eye, 0.0, -0.34),
        "glabella": at(eyes, 0.0, -0.2),
        "lid_upper_l": at(left_eye, 0.0, -0.1),
        "lid_upper_r": at(right_eye, 0.0, -0.1),
        "lid_lower_l": at(left_eye, 0.0, 0.1),
        "lid_lower_r": at(right_eye, 0.0, 0.1),
        "cheek_l": at(left_eye, -0.05, 0.5),
        "cheek_r": at(right_eye, 0.05, 0.5),
        "nose_wing_l": at(nose, -0.22, -0.05),
        "nose_wing_r": at(nose, 0.22, -0.05),
        "mouth_l": mouth_left,
        "mouth_r": mouth_right,
        "lip_upper": at(mouth, 0.0, -0.1),
        "lip_lower": at(mouth, 0.0, 0.12),
        "chin": at(mouth, 0.0, 0.5),
    }
    return points, distance, np.stack([across, down])


def _parse_unit(code: str) -> tuple[str, str | None]:
    """ "R12" -> ("12", "r"): the AU number and the one side it acts on (None: both)."""
    side = {"R": "l", "L": "r"}.get(code[:1].upper())  # subject's right = image left
    number = code[1:] if side else code
    if number not in ACTION_UNITS:
        raise ValueError(f"unknown action unit {code!r}, expected one of {sorted(ACTION_UNITS)}")
    return number, side


def action_unit_code(units: Mapping[str, float]) -> str:
    """FACS-style code of an AU set, e.g. {"6": .6, "12": 1} -> "6+12" (numeric order)."""

    def key(code: str) -> tuple[int, str]:
        number, _ = _parse_unit(code)
        return int(number), code

    return "+".join(sorted(units, key=key))


def displacement_field(
    landmarks: np.ndarray, units: Mapping[str, float], shape: tuple[int, int], amplitude: float
) -> np.ndarray:
    """Apex displacement [2, H, W] (dy, dx in pixels) of an AU set on a face.

    ``amplitude`` is the displacement, as a fraction of the eye distance, of an AU component
    of unit length and intensity 1.
    """
    height, width = shape
    field = np.zeros((2, height, width), dtype=np.float64)
    if not units:
        return field.astype(np.float32)
    points, distance, axes = facial_points(landmarks)
    ys = np.arange(height, dtype=np.float64)
    xs = np.arange(width, dtype=np.float64)
    for code, intensity in units.items():
        number, only_side = _parse_unit(code)
        for names, (outward, downward), radius in ACTION_UNITS[number]:
            sigma = radius * distance
            for name in names:
                side = name[-1] if len(names) == 2 else None
                if only_side is not None and side is not None and side != only_side:
                    continue
                direction = -1.0 if side == "l" else 1.0  # outward = away from the midline
                vector = (
                    distance
                    * amplitude
                    * intensity
                    * (direction * outward * axes[0] + downward * axes[1])
                )
                cx, cy = points[name]
                window = np.outer(
                    np.exp(-((ys - cy) ** 2) / (2 * sigma**2)),
                    np.exp(-((xs - cx) ** 2) / (2 * sigma**2)),
                )
                field[0] += vector[1] * window
                field[1] += vector[0] * window
    return field.astype(np.float32)


def shading_map(
    landmarks: np.ndarray, units: Mapping[str, float], shape: tuple[int, int], shading: float
) -> np.ndarray:
    """Apex change of gray level [H, W] of an AU set's appearance (``AU_SHADING``)."""
    height, width = shape
    shade = np.zeros((height, width), dtype=np.float64)
    if not units or shading == 0:
        return shade.astype(np.float32)
    points, distance, axes = facial_points(landmarks)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    for code, intensity in units.items():
        number, only_side = _parse_unit(code)
        for names, (outward, downward), (across, down), delta in AU_SHADING.get(number, ()):
            for name in names:
                side = name[-1] if len(names) == 2 else None
                if only_side is not None and side is not None and side != only_side:
                    continue
                direction = -1.0 if side == "l" else 1.0
                centre = points[name] + distance * (
                    direction * outward * axes[0] + downward * axes[1]
                )
                along_u = (xs - centre[0]) * axes[0, 0] + (ys - centre[1]) * axes[0, 1]
                along_v = (xs - centre[0]) * axes[1, 0] + (ys - centre[1]) * axes[1, 1]
                window = np.exp(
                    -(along_u**2) / (2 * (across * distance) ** 2)
                    - along_v**2 / (2 * (down * distance) ** 2)
                )
                shade += shading * intensity * delta * window
    return shade.astype(np.float32)


def envelope(
    n_frames: int, onset: int, apex: int, offset: int, residual: float = 0.0
) -> np.ndarray:
    """Raised-cosine intensity per frame: 0 before ``onset``, 1 at ``apex``, back down to
    ``residual`` at ``offset`` and after (frame indices, 0-based)."""
    if not 0 <= onset <= apex <= offset < n_frames:
        raise ValueError(
            f"need 0 <= onset <= apex <= offset < {n_frames}, got {onset, apex, offset}"
        )
    t = np.arange(n_frames, dtype=np.float64)
    values = np.zeros(n_frames)
    rise = (t >= onset) & (t <= apex)
    values[rise] = (
        0.5 * (1 - np.cos(np.pi * (t[rise] - onset) / (apex - onset))) if apex > onset else 1.0
    )
    fall = t > apex
    if offset > apex:
        phase = np.clip((t[fall] - apex) / (offset - apex), 0.0, 1.0)
        values[fall] = residual + (1 - residual) * 0.5 * (1 + np.cos(np.pi * phase))
    else:
        values[fall] = residual
    return values


@dataclass(frozen=True)
class MotionPlan:
    """Everything random about one sample, drawn once by :func:`plan_motion`."""

    expression: str
    units: dict[str, float]  # AU -> intensity, jittered per sample
    amplitude: float  # fraction of the eye distance at apex
    n_frames: int
    onset: int  # frame indices (0-based) of the envelope
    apex: int
    offset: int
    residual: float  # envelope level left after the offset
    shift: tuple[float, float]  # static (x, y) offset of the face in pixels
    drift: tuple[float, float]  # head translation (x, y) in pixels reached at the last frame
    jitter: float  # standard deviation (pixels) of frame-to-frame head tremor
    gain: float  # brightness of this recording
    flicker: float  # standard deviation of the per-frame brightness
    noise: float  # standard deviation of the sensor noise (gray levels)
    shading: float = 0.0  # strength of the AUs' appearance changes (``AU_SHADING``)
    tilt: float = 0.0  # in-plane head rotation (degrees, about the frame centre)
    light: tuple[float, float] = (0.0, 0.0)  # brightness change across the frame (x, y), fraction

    @property
    def action_units(self) -> str:
        return action_unit_code(self.units)


def plan_motion(
    rng: np.random.Generator,
    expression: str | Mapping[str, float],
    *,
    n_frames: int = 1,
    onset: int = 0,
    apex: int = 0,
    offset: int | None = None,
    amplitude: float = MICRO_AMPLITUDE,
    amplitude_jitter: float = 0.3,
    drift: float = 0.5,
    jitter: float = 0.05,
    flicker: float = 0.006,
    noise: float = 1.2,
    residual: float = 0.1,
    shading: float = 0.0,
    tilt: float = 0.0,
    lighting: float = 0.0,
) -> MotionPlan:
    """Draw a sample's variation: amplitude x U(1 -/+ amplitude_jitter), AU intensities
    x U(0.8, 1.2), brightness, a static face offset, head drift, residual and noise levels,
    and where asked the AUs' appearance changes at ``shading`` x U(0.8, 1.2), a head tilt in
    U(-tilt, tilt) degrees and a side light whose brightness
    changes by up to ``lighting`` (a fraction) across the frame.

    ``expression`` is a key of ``EXPRESSIONS`` or an explicit AU -> intensity mapping.
    """
    units = EXPRESSIONS[expression] if isinstance(expression, str) else dict(expression)
    name = expression if isinstance(expression, str) else action_unit_code(units)
    jittered = {code: float(value * rng.uniform(0.8, 1.2)) for code, value in units.items()}
    offset = n_frames - 1 if offset is None else offset
    drift_angle = rng.uniform(0.0, 2 * np.pi)
    drift_length = drift * rng.uniform(0.3, 1.0)
    plan = MotionPlan(
        expression=name,
        units=jittered,
        amplitude=float(amplitude * rng.uniform(1 - amplitude_jitter, 1 + amplitude_jitter)),
        n_frames=n_frames,
        onset=onset,
        apex=apex,
        offset=offset,
        residual=float(residual * rng.uniform(0.0, 1.0)),
        shift=(float(rng.uniform(-1.5, 1.5)), float(rng.uniform(-1.5, 1.5))),
        drift=(
            float(drift_length * np.cos(drift_angle)),
            float(drift_length * np.sin(drift_angle)),
        ),
        jitter=jitter,
        gain=float(rng.uniform(0.92, 1.08)),
        flicker=flicker,
        noise=noise,
    )
    # drawn last and only when asked, so that samples without them keep their random streams
    if shading > 0:
        plan = replace(plan, shading=float(shading * rng.uniform(0.8, 1.2)))
    if tilt > 0:
        plan = replace(plan, tilt=float(rng.uniform(-tilt, tilt)))
    if lighting > 0:
        light_angle = rng.uniform(0.0, 2 * np.pi)
        strength = lighting * rng.uniform(0.3, 1.0)
        plan = replace(
            plan,
            light=(float(strength * np.cos(light_angle)), float(strength * np.sin(light_angle))),
        )
    return plan


def warp_frame(image: np.ndarray, field: np.ndarray, grid: np.ndarray | None = None) -> np.ndarray:
    """Move the content of ``image`` [H, W, C] by ``field`` [2, H, W] (dy, dx) pixels.

    Backward mapping: output(p) = image(p - field(p)), which for smooth small fields moves
    what is at q to about q + field(q). Bilinear, edges repeated.
    """
    height, width = image.shape[:2]
    if grid is None:
        grid = np.mgrid[0:height, 0:width].astype(np.float32)
    coordinates = grid - field
    channels = [
        map_coordinates(image[:, :, channel], coordinates, order=1, mode="nearest")
        for channel in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1)


def _tilt_field(grid: np.ndarray, degrees: float) -> np.ndarray:
    """Displacement [2, H, W] (dy, dx) that rotates the frame by ``degrees`` about its centre."""
    height, width = grid.shape[1:]
    centre = np.array([(height - 1) / 2, (width - 1) / 2], dtype=np.float32)[:, None, None]
    angle = np.deg2rad(degrees)
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    dy, dx = grid - centre
    # backward mapping: output(p) = image(centre + R^-1 (p - centre))
    source_y = -sin * dx + cos * dy
    source_x = cos * dx + sin * dy
    return np.stack([dy - source_y, dx - source_x])


def _light_map(shape: tuple[int, int], light: tuple[float, float]) -> np.ndarray:
    """Brightness factor [H, W, 1]: 1 at the centre, 1 -/+ light/2 at the frame's sides."""
    height, width = shape
    ys = np.linspace(-0.5, 0.5, height, dtype=np.float32)[:, None]
    xs = np.linspace(-0.5, 0.5, width, dtype=np.float32)[None, :]
    return (1.0 + np.float32(light[0]) * xs + np.float32(light[1]) * ys)[:, :, None]


def render_clip(face: Face, plan: MotionPlan, rng: np.random.Generator) -> np.ndarray:
    """Frames [T, H, W, C] uint8 of ``face`` performing ``plan`` (C = ``face.channels``)."""
    height, width = face.image.shape[:2]
    apex_field = displacement_field(face.landmarks, plan.units, (height, width), plan.amplitude)
    apex_shade = shading_map(face.landmarks, plan.units, (height, width), plan.shading)[:, :, None]
    levels = envelope(plan.n_frames, plan.onset, plan.apex, plan.offset, plan.residual)
    grid = np.mgrid[0:height, 0:width].astype(np.float32)
    head = _tilt_field(grid, plan.tilt) if plan.tilt else None
    lighting = _light_map((height, width), plan.light) if any(plan.light) else None
    progress = np.linspace(0.0, 1.0, plan.n_frames) if plan.n_frames > 1 else np.zeros(1)
    tremor = rng.normal(0.0, plan.jitter, size=(plan.n_frames, 2))
    gains = plan.gain * (1.0 + rng.normal(0.0, plan.flicker, size=plan.n_frames))
    frames = np.empty((plan.n_frames, height, width, face.image.shape[2]), dtype=np.uint8)
    for index in range(plan.n_frames):
        move_x = plan.shift[0] + plan.drift[0] * progress[index] + tremor[index, 0]
        move_y = plan.shift[1] + plan.drift[1] * progress[index] + tremor[index, 1]
        field = levels[index] * apex_field
        if head is not None:
            field += head
        field[0] += move_y
        field[1] += move_x
        image = face.image + levels[index] * apex_shade if plan.shading else face.image
        frame = warp_frame(image, field, grid) * np.float32(gains[index])
        if lighting is not None:
            frame *= lighting
        if plan.noise > 0:
            frame += plan.noise * rng.standard_normal(frame.shape, dtype=np.float32)
        frames[index] = np.clip(np.rint(frame), 0, 255)
    return face.colorize(frames)


def render_still(face: Face, plan: MotionPlan, rng: np.random.Generator) -> np.ndarray:
    """One frame [H, W, C] uint8 of ``face`` at the apex of ``plan`` (a posed expression)."""
    still = replace(plan, n_frames=1, onset=0, apex=0, offset=0)
    return render_clip(face, still, rng)[0]
