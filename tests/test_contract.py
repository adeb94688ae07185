"""The model contract: registry, validation of bad input, declared outputs, determinism."""

import numpy as np
import pytest

from epmsweep.model import InvalidInput, available_models, get_model

SHORT = {"burn_in": 5, "duration": 20, "n_windows": 4}


def test_registry_lists_both_mean_field_models():
    assert {"meanfield", "meanfield-fp"} <= set(available_models())
    with pytest.raises(InvalidInput, match="unknown model 'nope'.*meanfield"):
        get_model("nope")


@pytest.mark.parametrize(
    ("model", "params", "settings", "pieces"),
    [
        ("meanfield", {"T": 0.0}, {}, ["T", "0", "> 0"]),
        ("meanfield", {"T": -1}, {}, ["T", "-1", "> 0"]),
        ("meanfield", {"alpha": -0.1}, {}, ["alpha", "-0.1", ">= 0"]),
        ("meanfield", {"N": 1}, {}, ["N", "1", ">= 2"]),
        ("meanfield", {"N": 2.5}, {}, ["N", "2.5", "integer"]),
        ("meanfield", {"a": 0}, {}, ["a", "0", "> 0"]),
        ("meanfield", {"T": "hot"}, {}, ["T", "'hot'", "number"]),
        ("meanfield", {"T": float("nan")}, {}, ["T", "nan"]),
        ("meanfield", {"beta": 1}, {}, ["unknown parameter", "'beta'"]),
        ("meanfield", {}, {"p_sigma_min": -0.5}, ["p_sigma_min", "-0.5", "sigma_c", "-1"]),
        ("meanfield", {"sigma_c": 2.0}, {}, ["p_sigma_min", "-1.5", "<= -2"]),
        ("meanfield", {}, {"p_sigma_max": 0.9}, ["p_sigma_max", "0.9", ">= 1"]),
        ("meanfield", {}, {"method": "fast"}, ["method", "'fast'", "'thinning'"]),
        ("meanfield", {}, {"n_windows": 1}, ["n_windows", "1", ">= 4"]),
            ("meanfield", {}, {"burn_in": "soon"}, ["burn_in", "soon", "'auto'"]),
        ("meanfield", {}, {"duration": 0}, ["duration", "0", "> 0"]),
        ("meanfield", {"N": 10}, {"duration": 1}, ["duration = 1", "n_windows = 20", "one event"]),
            ("meanfield", {"N": 10}, {"max_duration": 1}, ["max_duration = 1", "n_windows = 20"]),
        ("meanfield-fp", {"tau": 0}, {}, ["tau", "0", "> 0"]),
        ("meanfield-fp", {}, {"rate": "linear"}, ["rate", "'linear'", "'mct'"]),
        ("meanfield-fp", {}, {"t_min": 10, "t_max": 1, "n_times": 5}, ["t_max", "t_min"]),
        ("meanfield-fp", {"alpha": 0.0}, {"rate": "mct"}, ["alpha", "0", "mct"]),
        ("meanfield-fp", {"alpha": 0.5}, {"rate": "low-T"}, ["alpha", "0.5", "frozen"]),
    ],
)
def test_bad_input_is_refused_with_name_value_and_bound(model, params, settings, pieces):
    with pytest.raises(InvalidInput) as err:
        get_model(model).run(params, ({"n_times": 0} | settings) if model == "meanfield-fp" else settings, seed=0)
    for piece in pieces:
        assert piece in str(err.value), f"{piece!r} not in {err.value!s}"


@pytest.mark.parametrize("model", ["meanfield", "meanfield-fp"])
def test_outputs_match_their_declaration(model):
    m = get_model(model)
    settings = m.resolve_settings(SHORT if model == "meanfield" else {"n_times": 3})
    spec = m.outputs(settings)
    out = m.run({"T": 0.5, **({"N": 50} if model == "meanfield" else {})}, settings, seed=3)
    assert set(out) == set(spec.variables)
    for name, decl in spec.variables.items():
        assert out[name].shape == spec.shape(name)
        assert out[name].dtype == np.dtype(decl.dtype)
        assert decl.units and decl.long_name
    for coord in spec.coords.values():
        assert coord.units and coord.long_name


def _run(seed, **settings):
    # N = 40 at T = 0.1: activity sum(nu) ~ 2, so the auto method switches between
    # thinning and direct several times; determinism must survive that.
    return get_model("meanfield").run({"T": 0.1, "N": 40}, {**SHORT, "duration": 200, **settings}, seed=seed)


def test_same_seed_gives_bitwise_identical_outputs():
    first, second = _run(11), _run(np.random.SeedSequence(11))
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key


def test_different_seeds_give_different_outputs():
    first, second = _run(11), _run(12)
    assert first["events"] != second["events"] or first["sim_time"] != second["sim_time"]
    assert not np.array_equal(first["p_sigma"], second["p_sigma"])


def test_defaults_are_the_papers_units():
    params = get_model("meanfield").resolve_params()
    assert params == {"T": 0.3, "alpha": 0.11, "a": 1.5, "sigma_c": 1.0, "sigma_0": 1.0, "K": 1.0, "tau": 1.0, "N": 1000}
