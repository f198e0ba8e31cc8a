"""Model files are checked on load, and a model is immutable.

Each family of corrupt file gets a `ModelFormatError` naming the variable or attribute at
fault; a fuzz test mutates every variable and attribute of a saved model and requires each
mutated file to either load and predict exactly as the original, or raise `ModelFormatError`.
"""

import dataclasses
import json

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xrann
from xrann import features as F
from xrann.cli import main
from xrann.model import FORMAT_VERSION, Model, ModelFormatError


@pytest.fixture(scope="module")
def soil_model():
    return xrann.datasets.soil_toy().ann.fit(target="co2_flux", seed=0)


@pytest.fixture(scope="module")
def sites():
    return xrann.datasets.soil_toy_sites()


@pytest.fixture(scope="module")
def saved(soil_model, tmp_path_factory):
    """The soil model as read back from its netCDF file (the dtypes and attribute types of a real file)."""
    path = tmp_path_factory.mktemp("model") / "soil.nc"
    soil_model.to_netcdf(path)
    with xr.open_dataset(path) as model_file:
        return model_file.load()


def _with_attrs(model_ds, **attrs):
    changed = model_ds.copy()
    changed.attrs = {**model_ds.attrs, **attrs}
    return changed


def _without_attr(model_ds, name):
    changed = model_ds.copy()
    changed.attrs = {key: value for key, value in model_ds.attrs.items() if key != name}
    return changed


def _replaced(model_ds, name, dims, values):
    return model_ds.drop_vars(name).assign({name: (dims, values)})


def _hyperparameters(model_ds, **changes):
    return _with_attrs(model_ds, hyperparameters=json.dumps({**json.loads(model_ds.attrs["hyperparameters"]), **changes}))


def _nan_at_first(model_ds, name):
    values = model_ds[name].values.astype(np.float64)
    values.flat[0] = np.nan
    return model_ds.assign({name: (model_ds[name].dims, values)})


def _three_column_output(model_ds):
    weight = np.tile(model_ds["core_weight_1"].values, (1, 3))
    bias = np.tile(model_ds["core_bias_1"].values, 3)
    changed = _replaced(model_ds, "core_weight_1", ("core_weight_1_dim0", "out3"), weight)
    return _replaced(changed, "core_bias_1", ("out3",), bias)


CORRUPTIONS = {
    # missing variables and attributes
    "missing driver_min": (lambda ds: ds.drop_vars("driver_min"), "the variable driver_min is missing"),
    "missing output layer": (lambda ds: ds.drop_vars("core_weight_1"), "core_weight_1 is missing"),
    "missing driver names": (lambda ds: ds.drop_vars("driver"), "the coordinate driver .* is missing"),
    "missing driver_units": (lambda ds: ds.drop_vars("driver_units"), "the variable driver_units is missing"),
    "missing method": (lambda ds: _without_attr(ds, "method"), "the global attribute method is missing"),
    "missing sample_dims": (lambda ds: _without_attr(ds, "sample_dims"), "the global attribute sample_dims is missing"),
    "missing format version": (lambda ds: _without_attr(ds, "xrann_format_version"), "xrann_format_version is missing"),
    # format version
    "version 'two'": (lambda ds: _with_attrs(ds, xrann_format_version="two"), "xrann_format_version must be an integer, got 'two'"),
    "version 2.5": (lambda ds: _with_attrs(ds, xrann_format_version=2.5), "xrann_format_version must be an integer"),
    "version True": (lambda ds: _with_attrs(ds, xrann_format_version=True), "xrann_format_version must be an integer"),
    "version 0": (lambda ds: _with_attrs(ds, xrann_format_version=0), "format version 0, but this xrann .* reads versions 1 to"),
    # shapes
    "first layer for 3 drivers": (
        lambda ds: _replaced(ds, "core_weight_0", ("a", "core_weight_0_dim1"), np.ones((3, 4))),
        r"core_weight_0 has shape \(3, 4\) but takes 2 inputs \(2 drivers\)",
    ),
    "hidden layers not chained": (
        lambda ds: _replaced(ds, "core_weight_1", ("a", "core_weight_1_dim1"), np.ones((5, 1))),
        r"core_weight_1 has shape \(5, 1\) but takes 4 inputs \(core_weight_0 has 4 outputs\)",
    ),
    "weight as a vector": (
        lambda ds: _replaced(ds, "core_weight_1", ("a",), np.ones(4)),
        r"core_weight_1 must be a matrix \(n_inputs, n_outputs\)",
    ),
    "bias of the wrong length": (
        lambda ds: _replaced(ds, "core_bias_0", ("a",), np.ones(3)),
        r"core_bias_0 has shape \(3,\), expected \(4,\)",
    ),
    "three-column output layer": (_three_column_output, "the output layer core_weight_1 has 3 columns"),
    "driver_min of the wrong dims": (
        lambda ds: _replaced(ds, "driver_min", ("driver", "x"), ds["driver_min"].values[:, None]),
        r"the variable driver_min has dims \('driver', 'x'\), expected \('driver',\)",
    ),
    "target_max as a vector": (
        lambda ds: _replaced(ds, "target_max", ("x",), np.atleast_1d(ds["target_max"].values)),
        r"the variable target_max has dims \('x',\), expected \(\)",
    ),
    "unknown core array": (lambda ds: ds.assign(core_gain=("g", np.ones(2))), "core_gain is not a parameter of an ann model"),
    # biases all or none
    "core_bias_0 missing, core_bias_1 present": (lambda ds: ds.drop_vars("core_bias_0"), "core_bias_0 is missing .*every layer or none"),
    "no biases but bias=True": (lambda ds: ds.drop_vars(["core_bias_0", "core_bias_1"]), "the hyperparameters say bias=True but the file has no core_bias_"),
    # finite numbers
    "NaN weight": (lambda ds: _nan_at_first(ds, "core_weight_0"), r"core_weight_0 holds 1 non-finite value\(s\)"),
    "NaN bias": (lambda ds: _nan_at_first(ds, "core_bias_1"), "core_bias_1 holds 1 non-finite"),
    "NaN driver_min": (lambda ds: _nan_at_first(ds, "driver_min"), "driver_min holds 1 non-finite"),
    "inf target_max": (lambda ds: ds.assign(target_max=np.inf), "target_max holds 1 non-finite"),
    "NaN envelope": (lambda ds: _nan_at_first(ds, "envelope_centroid"), "envelope_centroid holds 1 non-finite"),
    "string weights": (
        lambda ds: ds.assign(core_weight_0=(ds["core_weight_0"].dims, ds["core_weight_0"].values.astype(str))),
        "core_weight_0 must hold real numbers",
    ),
    "driver_min above driver_max": (
        lambda ds: ds.assign(driver_min=ds["driver_max"] + 1),
        "driver_min exceeds driver_max",
    ),
    "feature range of 3 values": (
        lambda ds: _with_attrs(ds, target_feature_range=[0.1, 0.5, 0.9]),
        r"target_feature_range must be 2 numbers \[low, high\]",
    ),
    "decreasing feature range": (
        lambda ds: _with_attrs(ds, driver_feature_range=[1.0, 0.0]),
        "driver_feature_range=.* must be increasing",
    ),
    # driver names
    "duplicate driver names": (
        lambda ds: ds.assign_coords(driver=["soil_moisture", "soil_moisture"]),
        r"the coordinate driver names \['soil_moisture'\] more than once",
    ),
    "numeric driver names": (lambda ds: ds.assign_coords(driver=[1.0, 2.0]), "the variable driver must hold strings"),
    "target among the drivers": (lambda ds: _with_attrs(ds, target="grain_size"), "the target 'grain_size' is also listed as a driver"),
    # hyperparameters against the arrays
    "hidden differs": (lambda ds: _hyperparameters(ds, hidden=[5]), r"hidden=\[5\] but the weights have hidden layers \[4\]"),
    "hidden 4.5": (lambda ds: _hyperparameters(ds, hidden=[4.5]), r"hidden=\[4.5\]"),
    "bias as a string": (lambda ds: _hyperparameters(ds, bias="False"), "the hyperparameters say bias='False'"),
    "dtype differs": (lambda ds: _hyperparameters(ds, dtype="float32"), "dtype='float32' but the global attribute dtype is 'float64'"),
    "target_range differs": (lambda ds: _hyperparameters(ds, target_range=[0, 1]), r"target_range=\[0, 1\]"),
    # attribute values and types
    "unknown method": (lambda ds: _with_attrs(ds, method="forest"), r"method='forest' is not one of \['ann', 'linear'\]"),
    "unknown dtype": (lambda ds: _with_attrs(ds, dtype="float16"), "dtype='float16' is not one of"),
    "target not a string": (lambda ds: _with_attrs(ds, target=5), "the global attribute target must be a non-empty string"),
    "hyperparameters not JSON": (lambda ds: _with_attrs(ds, hyperparameters="{hidden: 4"), "hyperparameters must be a JSON dict"),
    "sample_dims a JSON object": (lambda ds: _with_attrs(ds, sample_dims='{"site": 1}'), "sample_dims must be a JSON list"),
    "incomplete envelope": (lambda ds: _without_attr(ds, "envelope_quantile"), "the training envelope is incomplete"),
    "unknown ensemble kind": (lambda ds: _with_attrs(ds, ensemble="bagging"), "ensemble='bagging' is not one of"),
    "ensemble attribute on a single model": (lambda ds: _with_attrs(ds, ensemble="bootstrap"), "of an ensemble needs a leading member dim"),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_each_corruption_names_the_fault(saved, name):
    corrupt, message = CORRUPTIONS[name]
    with pytest.raises(ModelFormatError, match=message) as caught:
        Model.from_dataset(corrupt(saved))
    assert "invalid xrann model" in str(caught.value) or "format version" in str(caught.value)


@pytest.mark.parametrize("name", ["missing output layer", "NaN weight", "version 'two'", "three-column output layer"])
def test_corrupt_files_on_disk(saved, tmp_path, name):
    corrupt, message = CORRUPTIONS[name]
    corrupt(saved).to_netcdf(tmp_path / "corrupt.nc")
    with pytest.raises(ModelFormatError, match=message):
        xrann.open_model(tmp_path / "corrupt.nc")


def test_messages_say_what_to_do(saved):
    with pytest.raises(ModelFormatError, match="re-save the model with xrann .*or fit it again"):
        Model.from_dataset(saved.drop_vars("core_bias_0"))
    with pytest.raises(ModelFormatError, match="upgrade xrann"):
        Model.from_dataset(_with_attrs(saved, xrann_format_version=FORMAT_VERSION + 1))
    with pytest.raises(TypeError, match=r"use xrann.open_model\(path\)"):
        Model.from_dataset("model.nc")


@pytest.fixture(scope="module")
def ensemble_and_linear():
    ds = xrann.datasets.soil_toy()
    return {
        "ensemble": ds.ann.fit(target="co2_flux", seed=0, members=3, epochs=20),
        "linear": ds.ann.fit(target="co2_flux", method="linear"),
        "linear ensemble": ds.ann.fit(target="co2_flux", method="linear", members=2),
        "no bias, two layers": ds.ann.fit(target="co2_flux", seed=0, hidden=(3, 2), bias=False, epochs=20),
    }


@pytest.mark.filterwarnings("ignore::xrann.ConvergenceWarning")
@pytest.mark.parametrize("kind", ["ensemble", "linear", "linear ensemble", "no bias, two layers"])
def test_valid_models_of_every_kind_load_identically(ensemble_and_linear, sites, kind, tmp_path):
    model = ensemble_and_linear[kind]
    model.to_netcdf(tmp_path / "m.nc")
    loaded = xrann.open_model(tmp_path / "m.nc")
    np.testing.assert_array_equal(sites.ann.predict(loaded).values, sites.ann.predict(model).values)
    assert loaded.n_members == model.n_members and loaded.method == model.method


def test_ensemble_and_linear_files_are_checked(ensemble_and_linear):
    ensemble = ensemble_and_linear["ensemble"].to_dataset()
    with pytest.raises(ModelFormatError, match="has a member dim but the global attribute ensemble is missing"):
        Model.from_dataset(_without_attr(ensemble, "ensemble"))
    with pytest.raises(ModelFormatError, match="members=5 but the core arrays hold 3 members"):
        Model.from_dataset(_hyperparameters(ensemble, members=5))
    with pytest.raises(ModelFormatError, match=r"core_bias_1 has shape \(2,\), expected \(1,\)"):
        Model.from_dataset(_replaced(ensemble, "core_bias_1", ("member", "b"), np.ones((3, 2))))
    with pytest.raises(ModelFormatError, match="core_weight_1 holds 1 non-finite"):
        Model.from_dataset(_nan_at_first(ensemble, "core_weight_1"))
    linear = ensemble_and_linear["linear"].to_dataset()
    with pytest.raises(ModelFormatError, match=r"core_coefficients has shape \(3, 1\), expected \(2, 1\)"):
        Model.from_dataset(_replaced(linear, "core_coefficients", ("a", "b"), np.ones((3, 1))))
    with pytest.raises(ModelFormatError, match="core_intercept is missing"):
        Model.from_dataset(linear.drop_vars("core_intercept"))
    with pytest.raises(ModelFormatError, match="core_weight_0 is not a parameter of a linear model"):
        Model.from_dataset(linear.assign(core_weight_0=(("a", "b"), np.ones((2, 1)))))


def test_version_1_file_without_envelope_and_history_attrs_reads(saved, soil_model, sites):
    old = _with_attrs(saved.drop_vars("envelope_centroid"), xrann_format_version=1)
    old.attrs = {key: value for key, value in old.attrs.items() if not key.startswith(("envelope_", "history_attrs"))}
    loaded = Model.from_dataset(old)
    assert loaded.envelope is None
    np.testing.assert_array_equal(sites.ann.predict(loaded).values, sites.ann.predict(soil_model).values)


def test_cli_predict_on_a_corrupt_model(saved, sites, tmp_path, capsys):
    saved.drop_vars("core_weight_1").to_netcdf(tmp_path / "corrupt.nc")
    sites.to_netcdf(tmp_path / "sites.nc")
    status = main(["predict", str(tmp_path / "corrupt.nc"), str(tmp_path / "sites.nc"), "--out", str(tmp_path / "p.nc")])
    err = capsys.readouterr().err
    assert status == 1
    assert err.startswith("xrann: error: invalid xrann model: core_weight_1 is missing")
    assert "re-save the model with xrann" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "p.nc").exists()


# -- the fuzz test ------------------------------------------------------------------------------
VARIABLE_MUTATIONS = ("drop", "add axis", "truncate", "nan", "strings", "objects")
ATTRIBUTE_MUTATIONS = ("drop", "to string", "to integer", "to float", "to list", "empty")


def mutate_variable(model_ds, name, how):
    variable = model_ds.variables[name]
    values = np.asarray(variable.values)
    if how == "drop":
        return model_ds.drop_vars(name)
    if how == "add axis":
        dims, values = variable.dims + (f"{name}_extra_axis",), values[..., None]
    elif how == "truncate":
        if values.ndim == 0 or values.shape[0] == 0:
            return None
        dims, values = (f"{name}_truncated",) + variable.dims[1:], values[:-1]
    elif how == "nan":
        dims, values = variable.dims, np.array(values, dtype=np.float64) if values.dtype.kind in "fiub" else np.full(values.shape, np.nan)
        if values.size == 0:
            return None
        values.flat[0] = np.nan
    elif how == "strings":
        dims, values = variable.dims, values.astype(str) if values.dtype.kind in "fiub" else np.zeros(values.shape)
    else:  # the same values as Python objects (numbers, or strings as bytes), as a hand-made file might hold
        items = [v.encode() if isinstance(v, str) else v for v in values.ravel().tolist()]
        dims, values = variable.dims, np.array(items + [None], dtype=object)[:-1].reshape(values.shape)
    if name in model_ds.dims and dims != (name,):
        return None  # xarray cannot hold a dimension coordinate on other dims: not a file one can write
    try:
        if name in model_ds.dims:
            return model_ds.assign_coords({name: (dims, values)})
        return model_ds.drop_vars(name).assign({name: (dims, values)})
    except ValueError:  # xarray refuses (a dim of another length elsewhere): not a file one can write
        return None


def mutate_attribute(model_ds, name, how):
    value = model_ds.attrs[name]
    new = {
        "to string": str(value) if not isinstance(value, str) else f"{value}x",
        "to integer": 7,
        "to float": 2.0 if not isinstance(value, str) else 0.5,
        "to list": [1.0, 2.0, 3.0],
        "empty": "",
    }
    changed = model_ds.copy()
    changed.attrs = {key: item for key, item in model_ds.attrs.items() if key != name}
    if how != "drop":
        changed.attrs[name] = new[how]
    return changed


def mutations(model_ds):
    return [("variable", name, how) for name in sorted(map(str, model_ds.variables)) for how in VARIABLE_MUTATIONS] + [
        ("attribute", name, how) for name in sorted(model_ds.attrs) for how in ATTRIBUTE_MUTATIONS
    ]


def apply(model_ds, mutation):
    kind, name, how = mutation
    if kind == "variable":
        return mutate_variable(model_ds, name, how) if name in model_ds.variables else None
    return mutate_attribute(model_ds, name, how) if name in model_ds.attrs else None


def loads_identically_or_refuses(model_ds, sites, expected):
    """The property: ``model_ds`` either predicts ``expected`` exactly, or is refused with ModelFormatError."""
    try:
        model = Model.from_dataset(model_ds)
    except ModelFormatError:
        return "refused"
    np.testing.assert_array_equal(sites.ann.predict(model).values, expected)
    return "loaded"


def test_every_single_mutation_loads_identically_or_raises_model_format_error(saved, soil_model, sites):
    expected = sites.ann.predict(soil_model).values
    outcomes = {}
    for mutation in mutations(saved):
        mutated = apply(saved, mutation)
        if mutated is not None:
            outcomes[mutation] = loads_identically_or_refuses(mutated, sites, expected)
    assert len(outcomes) > 150
    # what a prediction needs is refused when broken; provenance and history are not needed to predict
    assert outcomes[("variable", "core_weight_1", "drop")] == "refused"
    assert outcomes[("variable", "driver_min", "nan")] == "refused"
    assert outcomes[("attribute", "dtype", "to integer")] == "refused"
    assert outcomes[("attribute", "title", "to integer")] == "loaded"
    assert outcomes[("variable", "history_loss", "nan")] == "loaded"


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_model_files_load_identically_or_raise_model_format_error(saved, soil_model, sites, tmp_path_factory, data):
    """One to three mutations of different variables or attributes, written to and read from disk (netCDF's own types for attributes and variables)."""
    expected = sites.ann.predict(soil_model).values
    # each variable or attribute mutated at most once: two mutations of one (NaN, then to strings) can
    # make a valid file with other values ('nan' units), which is not corruption
    chosen = data.draw(st.lists(st.sampled_from(mutations(saved)), min_size=1, max_size=3, unique_by=lambda m: m[1]))
    mutated = saved
    for mutation in chosen:
        mutated = apply(mutated, mutation) or mutated  # None where the mutation does not apply
    loads_identically_or_refuses(mutated, sites, expected)
    path = tmp_path_factory.mktemp("fuzz") / "m.nc"
    try:
        mutated.to_netcdf(path)
    except (TypeError, ValueError):
        return  # not writable as netCDF (e.g. mixed Python objects): the in-memory check above covers it
    try:
        model = xrann.open_model(path)
    except ModelFormatError:
        return
    np.testing.assert_array_equal(sites.ann.predict(model).values, expected)


# -- immutability -------------------------------------------------------------------------------
def _all_arrays(model):
    members = getattr(model.core, "members", [model.core])
    arrays = [array for member in members for array in member.to_arrays().values()]
    arrays += [model.driver_scaler.minimum, model.driver_scaler.maximum, model.target_scaler.minimum, model.target_scaler.maximum]
    return arrays + ([model.envelope.centroids] if model.envelope is not None else [])


@pytest.mark.parametrize("kind", ["single", "ensemble", "linear"])
def test_arrays_a_model_exposes_are_read_only(soil_model, ensemble_and_linear, kind):
    model = soil_model if kind == "single" else ensemble_and_linear[kind]
    for array in _all_arrays(model):
        assert not array.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            array[...] = 0.0
    assert all(not a.flags.writeable for a in _all_arrays(Model.from_dataset(model.to_dataset())))


def test_replace_and_members_keep_the_frozen_arrays(soil_model, ensemble_and_linear):
    changed = dataclasses.replace(soil_model, target="co2")
    assert changed.core.weights[0] is soil_model.core.weights[0] and changed.driver_scaler is soil_model.driver_scaler
    ensemble = ensemble_and_linear["ensemble"]
    members = [dataclasses.replace(ensemble, core=member) for member in ensemble.core.members]
    assert all(not a.flags.writeable for member in members for a in _all_arrays(member))


def test_to_dataset_returns_copies(soil_model, sites):
    before = sites.ann.predict(soil_model).values
    model_ds = soil_model.to_dataset()
    for name in model_ds.data_vars:
        if model_ds[name].dtype.kind == "f":
            model_ds[name].values[...] = 0.0  # writable copies: editing them is allowed
    assert soil_model.driver_scaler.minimum.tolist() == [34.0, 0.3]
    assert not np.all(soil_model.core.weights[0] == 0) and soil_model.history["loss"].notnull().all()
    np.testing.assert_array_equal(sites.ann.predict(soil_model).values, before)


def test_model_shares_no_memory_with_its_sources(soil_model, saved, sites):
    source = saved.copy(deep=True)
    model = Model.from_dataset(source)
    before = sites.ann.predict(model).values
    source["core_weight_0"].values[...] = 0.0
    source["driver_min"].values[...] = 0.0
    np.testing.assert_array_equal(sites.ann.predict(model).values, before)
    weights = [np.array(w) for w in soil_model.core.weights]
    built = dataclasses.replace(soil_model, core=type(soil_model.core)(weights, None))
    weights[0][...] = 0.0  # the caller's arrays stay the caller's, writable and separate
    assert not np.all(built.core.weights[0] == 0)


# -- recipes (format version 3) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def recipe_saved(tmp_path_factory):
    """A model with a lag, a rolling window, an anomaly and a calendar encoding, read back from disk, and its data."""
    rng = np.random.default_rng(0)
    time = xr.date_range("2000-01-01", periods=36, freq="MS")
    ds = xr.Dataset(
        {
            "p": (("time", "x"), rng.gamma(2.0, 1.0, (36, 3)), {"units": "mm", "standard_name": "precipitation_flux"}),
            "t": (("time", "x"), rng.normal(size=(36, 3)), {"units": "K"}),
            "y": (("time", "x"), rng.normal(size=(36, 3))),
        },
        coords={"time": time, "x": [10.0, 20.0, 30.0]},
    )
    recipes = [F.lag("p", 1), F.rolling("p", 2, how="max"), F.anomaly("t"), F.cyclic("time.month")]
    model = ds.ann.fit(target="y", drivers=["t", *recipes], seed=0, epochs=2, validation=None, progress=False)
    path = tmp_path_factory.mktemp("recipes") / "recipes.nc"
    model.to_netcdf(path)
    with xr.open_dataset(path) as model_file:
        return model_file.load(), model, ds.drop_vars("y")


def _refused_or_identical(model_ds, data, expected):
    try:
        model = Model.from_dataset(model_ds)
    except ModelFormatError:
        return "refused"
    try:
        predicted = data.ann.predict(model).values
    except ValueError as error:  # a climatology on another grid than the data is named at predict time
        assert "stored climatology" in str(error)
        return "refused at predict"
    np.testing.assert_array_equal(predicted, expected)
    return "loaded"


def test_every_single_mutation_of_a_recipe_file_loads_identically_or_is_refused(recipe_saved):
    saved, model, data = recipe_saved
    assert saved.attrs["xrann_format_version"] == FORMAT_VERSION == 4
    expected = data.ann.predict(model).values
    np.testing.assert_array_equal(data.ann.predict(Model.from_dataset(saved)).values, expected)
    outcomes = {}
    for mutation in mutations(saved):
        mutated = apply(saved, mutation)
        if mutated is not None:
            outcomes[mutation] = _refused_or_identical(mutated, data, expected)
    for how in ATTRIBUTE_MUTATIONS:
        assert outcomes[("attribute", "recipes", how)] == "refused"
    for how in ("drop", "nan", "strings", "add axis"):
        assert outcomes[("variable", "climatology_t", how)] == "refused"
        assert outcomes[("variable", "driver_recipe", how)] == "refused"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_fuzzed_recipe_files_load_identically_or_are_refused(recipe_saved, data):
    saved, model, inputs = recipe_saved
    expected = inputs.ann.predict(model).values
    chosen = data.draw(st.lists(st.sampled_from(mutations(saved)), min_size=1, max_size=3, unique_by=lambda m: m[1]))
    mutated = saved
    for mutation in chosen:
        mutated = apply(mutated, mutation) or mutated
    _refused_or_identical(mutated, inputs, expected)


def test_a_version_2_file_still_reads(saved, soil_model, sites):
    old = _with_attrs(saved.drop_vars("driver_recipe"), xrann_format_version=2)
    np.testing.assert_array_equal(sites.ann.predict(Model.from_dataset(old)).values, sites.ann.predict(soil_model).values)
    with pytest.raises(ModelFormatError, match="driver_recipe is missing"):
        Model.from_dataset(saved.drop_vars("driver_recipe"))
