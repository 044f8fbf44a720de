"""What every pipeline's parameter model shares: the base model, the value types that recur
(a fraction, a device, a checkpoint folder pattern), the bilevel search settings and the
fixed-epoch SGD training settings.

Field types carry their constraint and description, so that a pipeline whose demo uses another
default re-declares the field in one line (``epochs: SearchEpochs = 3``) and keeps both.
"""

from __future__ import annotations

import string
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


class ParameterModel(BaseModel):
    """Base of every parameter model: an unknown key is an error (a typo is caught, not
    ignored) and a validated model is frozen (nodes cannot change the settings they share)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]
"""A share strictly between 0 and 1."""

Rate = Annotated[float, Field(ge=0.0, lt=1.0)]
"""A dropout probability: 0 (off) up to, not including, 1."""

PositiveInt = Annotated[int, Field(ge=1)]
Seed = Annotated[int, Field(ge=0)]
Device = Annotated[
    str,
    Field(
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="auto (CUDA when available, else the CPU), cpu, cuda or cuda:<index>",
    ),
]


def _workers(value: object) -> str | int:
    if value == "auto" or (type(value) is int and value >= 1):
        return value
    raise ValueError("expected 'auto' or an integer number of worker processes >= 1")


Workers = Annotated[
    Literal["auto"] | int,
    BeforeValidator(_workers),
    Field(
        description="processes that train side by side, one torch thread per core each "
        "(training.workers.TrainingPool). auto: one per usable CPU core on the CPU, 1 on a "
        "GPU or under torchrun; 1: every training in this process",
    ),
]


def only_placeholders(*allowed: str) -> AfterValidator:
    """A check that a folder pattern uses only the ``{placeholders}`` in ``allowed``."""

    def check(pattern: str) -> str:
        used = {name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None}
        unknown = sorted(used - set(allowed))
        if unknown:
            expected = ", ".join(f"{{{name}}}" for name in allowed)
            raise ValueError(f"unknown placeholder(s) {unknown}; this path may use {expected}")
        return pattern

    return AfterValidator(check)


# --- fields of the two training loops (search and final training) -----------------------------
Epochs = Annotated[
    int,
    Field(ge=1, description="passes over the training data (fixed: no epoch is chosen by a score)"),
]
BatchSize = Annotated[int, Field(ge=1, description="samples per optimisation step")]
LearningRate = Annotated[
    float, Field(gt=0.0, description="initial SGD learning rate, cosine-annealed over the epochs")
]
MinLearningRate = Annotated[
    float, Field(ge=0.0, description="learning rate the cosine schedule ends at")
]
Momentum = Annotated[float, Field(ge=0.0, lt=1.0, description="SGD momentum")]
WeightDecay = Annotated[float, Field(ge=0.0, description="SGD weight decay (L2 factor)")]


class BilevelSearchParams(ParameterModel):
    """The bilevel weight-sharing search (``nas.search_loop``): each epoch alternates SGD steps
    on the network weights (training batches) and Adam steps on the architecture weights
    (validation batches). Each pipeline sets its demo's ``epochs``, ``batch_size``, ``lr`` and
    ``lr_min``."""

    epochs: Epochs
    batch_size: BatchSize
    lr: LearningRate
    lr_min: MinLearningRate
    momentum: Momentum = 0.9
    weight_decay: WeightDecay = 3.0e-4
    arch_lr: float = Field(
        3.0e-3, gt=0.0, description="Adam learning rate of the architecture weights"
    )
    arch_weight_decay: float = Field(
        1.0e-3, ge=0.0, description="Adam weight decay of the architecture weights"
    )
    order: Literal["first", "second"] = Field(
        "first",
        description="hypergradient: first order, or second order (DARTS' one-step unrolled "
        "finite-difference step)",
    )
    arch_warmup_epochs: int = Field(
        0, ge=0, description="weight-only epochs before the architecture steps start"
    )
    grad_clip: float = Field(5.0, gt=0.0, description="clip norm of the weight gradients")
    resume: bool = Field(
        True, description="continue an interrupted search from its last epoch checkpoint"
    )


class SgdTrainingParams(ParameterModel):
    """Training of the derived network from scratch (``training.loop.train_fixed_epochs``):
    SGD with a cosine-annealed learning rate for a fixed number of epochs. Each pipeline sets
    its demo's ``batch_size``."""

    epochs: Epochs = 10
    batch_size: BatchSize
    lr: LearningRate = 0.05
    momentum: Momentum = 0.9
    weight_decay: WeightDecay = 3.0e-4
    use_augmented: bool = Field(
        False,
        description="train on <corpus>.augmented_* (the originals and their augmented copies)",
    )
