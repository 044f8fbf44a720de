"""Which model checks which top-level parameter key, and a check of all of them whose error
names every problem by its full key (``rnas_mer.variant``), its value and what was expected.

Kedro validates each node's typed parameter when it builds the catalog, but reports a problem
relative to the model it instantiates (``Parameter 'rnas_mer': ... variant  Input should be
...``). ``check_parameters`` runs first (``expression_nas.hooks``) over whole top-level keys,
so a corpus entry's problem reads ``data_preparation.corpora.demo_samm.length``.
"""

from __future__ import annotations

import difflib
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from expression_nas.parameters.common import ParameterModel
from expression_nas.parameters.cross_database import CrossDatabaseParams
from expression_nas.parameters.darts_fer import DartsFerParams
from expression_nas.parameters.data_preparation import DataPreparationParams
from expression_nas.parameters.efficientnet_fer import EfficientnetFerParams
from expression_nas.parameters.global_nas_fer import GlobalNasFerParams
from expression_nas.parameters.rnas_mer import RnasMerParams
from expression_nas.parameters.surrogate_hpo_fer import SurrogateHpoFerParams

#: Top-level parameter key -> the model of its whole tree. A new pipeline adds its own here.
PARAMETER_MODELS: dict[str, type[ParameterModel]] = {
    "data_preparation": DataPreparationParams,
    "rnas_mer": RnasMerParams,
    "darts_fer": DartsFerParams,
    "surrogate_hpo_fer": SurrogateHpoFerParams,
    "cross_database": CrossDatabaseParams,
    "efficientnet_fer": EfficientnetFerParams,
    "global_nas_fer": GlobalNasFerParams,
}


class InvalidParametersError(ValueError):
    """Parameters that break their pipeline's model; one line per problem."""


def check_parameters(parameters: Mapping[str, Any]) -> dict[str, ParameterModel]:
    """Validate every key of ``PARAMETER_MODELS`` present in ``parameters`` (Kedro's merged
    parameters, ``--params`` included) and return the models.

    Raises ``InvalidParametersError`` listing every problem of every key at once.
    """
    models, problems = {}, []
    for key, model in PARAMETER_MODELS.items():
        if key not in parameters:
            continue
        try:
            models[key] = model.model_validate(parameters[key])
        except ValidationError as error:
            problems += _describe_all(key, model, parameters[key], error.errors())
    if problems:
        count = f"{len(problems)} invalid parameter{'s' if len(problems) > 1 else ''}"
        raise InvalidParametersError(
            f"{count} (conf/base, the environment's conf/<env>/ or --params):\n"
            + "\n".join(f"  {problem}" for problem in problems)
        )
    return models


def _describe_all(
    key: str, model: type[BaseModel], raw: Any, errors: Sequence[Mapping[str, Any]]
) -> list[str]:
    """Every problem under ``key``, less the type mismatches of a union's members that another
    member explains better: a mapping given for ``str | CompositeRoots`` is reported by what
    is wrong in it, not also as "not a valid string"."""
    located = []
    for error in errors:
        path = _input_path(raw, error["loc"], error["type"] == "missing")
        name = key + "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path)
        located.append((name, path, error))
    names = [name for name, _, _ in located]
    described: dict[str, list[str]] = {}  # "<key> = <value>" -> what is wrong (per union member)
    for name, path, error in located:
        if error["type"].endswith("_type") and any(
            other.startswith((f"{name}.", f"{name}[")) for other in names
        ):
            continue
        subject, problem = _describe(name, model, path, error)
        described.setdefault(subject, []).append(problem)
    return [f"{subject}: {' | '.join(problems)}" for subject, problems in described.items()]


def _describe(
    name: str, model: type[BaseModel], path: list, error: Mapping[str, Any]
) -> tuple[str, str]:
    """One problem as (``<full key> = <value>``, what is wrong)."""
    if error["type"] == "missing":
        return name, "missing"
    if error["type"] == "extra_forbidden":
        owners = [t for t in _types_at(model, path[:-1]) if _is_model(t)]
        known = sorted({field for owner in owners for field in owner.model_fields})
        return name, (
            f"unknown key{_did_you_mean(str(path[-1]), known)}; "
            f"{name.rsplit('.', 1)[0]} takes {', '.join(known)}"
        )
    problem = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error":
        choices = [str(c) for t in _types_at(model, path) for c in _literal_choices(t)]
        problem += _did_you_mean(str(error["input"]), choices)
    if isinstance(error["input"], Mapping):  # a check of a whole section: its keys say enough
        return name, problem
    return f"{name} = {error['input']!r}", problem


def _input_path(raw: Any, loc: Sequence[str | int], missing: bool) -> list[str | int]:
    """The keys (and list indices) of ``loc`` that lead through the parameter values; pydantic
    also puts the tried member of a union type (``str``, ``CompositeRoots``) in ``loc``."""
    path, value = [], raw
    for position, part in enumerate(loc):
        leads_on = (isinstance(value, Mapping) and part in value) or (
            isinstance(value, list) and isinstance(part, int) and part < len(value)
        )
        if leads_on:
            path.append(part)
            value = value[part]
        elif missing and position == len(loc) - 1:
            path.append(part)
    return path


def _types_at(model: type[BaseModel], path: Sequence[str | int]) -> list[Any]:
    """The types a value at ``path`` inside ``model`` may have (the members of a union)."""
    candidates = [model]
    for part in path:
        following = []
        for candidate in candidates:
            if _is_model(candidate) and part in candidate.model_fields:
                following += _members(candidate.model_fields[part].annotation)
            elif get_origin(candidate) is dict:
                following += _members(get_args(candidate)[1])
            elif get_origin(candidate) in (list, tuple) and isinstance(part, int):
                following += _members(get_args(candidate)[0])
        candidates = following
    return candidates


def _members(annotation: Any) -> list[Any]:
    """``annotation`` without ``Annotated``, split into the members of a union."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _members(get_args(annotation)[0])
    if origin is Union or isinstance(annotation, types.UnionType):
        return [member for arg in get_args(annotation) for member in _members(arg)]
    return [annotation]


def _literal_choices(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) is Literal else ()


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _did_you_mean(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
