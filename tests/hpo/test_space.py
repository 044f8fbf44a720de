"""Search spaces: search coordinates, validation, and the Latin-hypercube start."""

import math

import numpy as np
import pytest

from expression_nas.hpo.space import Dimension, SearchSpace, latin_hypercube

SPACE = SearchSpace(
    (
        Dimension("lambda_x", 1e-8, 1e-2, log=True),
        Dimension("p_x", 0.1, 0.9),
        Dimension("lambda_W", 1e-6, 1.0, log=True),
    )
)


def test_bounds_are_log10_for_log_dimensions_only() -> None:
    np.testing.assert_allclose(SPACE.bounds, [[-8, -2], [0.1, 0.9], [-6, 0]])
    assert SPACE.names == ("lambda_x", "p_x", "lambda_W")


def test_to_search_and_from_search_round_trip() -> None:
    values = {"lambda_x": 1e-5, "p_x": 0.5, "lambda_W": 0.01}

    vector = SPACE.to_search(values)

    np.testing.assert_allclose(vector, [-5, 0.5, -2])
    recovered = SPACE.from_search(vector)
    assert recovered.keys() == values.keys()
    for name, value in values.items():
        assert recovered[name] == pytest.approx(value, rel=1e-12)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lambda_x": 1e-5, "p_x": 0.5}, r"missing \['lambda_W'\]"),
        ({"lambda_x": 1e-5, "p_x": 0.5, "lambda_W": 1, "other": 1}, r"unknown \['other'\]"),
    ],
)
def test_to_search_refuses_missing_or_unknown_names(values: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SPACE.to_search(values)


def test_to_search_refuses_non_positive_log_values() -> None:
    with pytest.raises(ValueError, match="log scale"):
        SPACE.to_search({"lambda_x": 0.0, "p_x": 0.5, "lambda_W": 0.01})


@pytest.mark.parametrize(
    ("args", "message"),
    [(("a", 1.0, 1.0), "below"), (("a", 0.0, 1.0, True), "low > 0")],
)
def test_dimension_validation(args: tuple, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Dimension(*args)


def test_space_refuses_repeated_names() -> None:
    with pytest.raises(ValueError, match="repeated"):
        SearchSpace((Dimension("a", 0, 1), Dimension("a", 0, 2)))


def test_clip_limits_each_coordinate_to_its_bounds() -> None:
    clipped = SPACE.clip(np.array([[-9.0, 0.5, 1.0], [-3.0, 0.0, -7.0]]))

    np.testing.assert_array_equal(clipped, [[-8.0, 0.5, 0.0], [-3.0, 0.1, -6.0]])


def test_subspace_keeps_the_given_order() -> None:
    sub = SPACE.subspace(["lambda_W", "lambda_x"])

    assert sub.names == ("lambda_W", "lambda_x")
    np.testing.assert_allclose(sub.bounds, [[-6, 0], [-8, -2]])
    with pytest.raises(ValueError, match="unknown"):
        SPACE.subspace(["nope"])


@pytest.mark.parametrize("n", [1, 6, 50])
def test_latin_hypercube_has_one_point_per_stratum_in_every_dimension(n: int) -> None:
    points = latin_hypercube(SPACE, n, seed=3)

    assert points.shape == (n, len(SPACE))
    bounds = SPACE.bounds
    assert np.all(points >= bounds[:, 0]) and np.all(points <= bounds[:, 1])
    for column, dimension in enumerate(SPACE.dimensions):
        values = np.array([SPACE.from_search(point)[dimension.name] for point in points])
        assert np.all(values >= dimension.low) and np.all(values <= dimension.high)
        # log dimensions are stratified in log10 of the value, linear ones in the value itself
        coordinate = np.log10(values) if dimension.log else values
        low, high = bounds[column]
        strata = np.floor((coordinate - low) / (high - low) * n).astype(int)
        assert sorted(strata.tolist()) == list(range(n))


def test_latin_hypercube_is_seeded() -> None:
    np.testing.assert_array_equal(latin_hypercube(SPACE, 6, 1), latin_hypercube(SPACE, 6, 1))
    assert not np.array_equal(latin_hypercube(SPACE, 6, 1), latin_hypercube(SPACE, 6, 2))


def test_from_search_keeps_rounded_log_values_inside_their_range() -> None:
    # 10 ** log10(x) is one ulp above x for 3e-3 and one below for 5e-4
    space = SearchSpace((Dimension("a", 5e-4, 3e-3, log=True),))

    assert space.from_search([math.log10(3e-3)])["a"] == 3e-3
    assert space.from_search([math.log10(5e-4)])["a"] == 5e-4
