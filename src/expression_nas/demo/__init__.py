"""Synthetic, offline demo corpora in the real corpora's layouts (see ``generate``).

The real MER/FER corpora are licensed and cannot be shipped; these look-alikes are built from
public sample photos inside scikit-image and matplotlib plus synthetic facial motions, so the
whole project runs out of the box. They are honestly synthetic: results on them say nothing
about real expression recognition.
"""

from expression_nas.demo.faces import Face, Identity, corpus_identities, render_face
from expression_nas.demo.generate import (
    DEFAULTS,
    DEMO_KINDS,
    GENERATOR_VERSION,
    MARKER_NAME,
    DemoCorpusError,
    demo_config,
    generate_demo_composite,
    generate_demo_corpus,
)
from expression_nas.demo.motion import EXPRESSIONS, MotionPlan, plan_motion, render_clip

__all__ = [
    "DEFAULTS",
    "DEMO_KINDS",
    "EXPRESSIONS",
    "GENERATOR_VERSION",
    "MARKER_NAME",
    "DemoCorpusError",
    "Face",
    "Identity",
    "MotionPlan",
    "corpus_identities",
    "demo_config",
    "generate_demo_composite",
    "generate_demo_corpus",
    "plan_motion",
    "render_clip",
    "render_face",
]
