"""Second-order optimisers and the Gauss-Newton terms they need, against dense finite-difference references."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import xrann.core.workspace as workspace_module
from xrann.core.network import initialize, loss_and_gradients
from xrann.core.optimizers import OPTIMIZERS, make_optimizer
from xrann.core.second_order import LBFGS, LevenbergMarquardt
from xrann.core.workspace import GradientWorkspace, augment_inputs


class ArrayObjective:
    """The full-batch loss of in-memory arrays as a function of the flat parameters (the `Objective` protocol)."""

    def __init__(self, workspace, drivers, targets, loss="mse"):
        self.workspace = workspace
        self.inputs = augment_inputs(drivers, bias=workspace.bias, dtype=workspace.dtype)
        self.targets = np.asarray(targets, dtype=workspace.dtype)
        self.c = 1.0 / self.targets.size if loss == "mse" else 1.0
        self.calls = {"loss": 0, "loss_and_gradient": 0, "gauss_newton": 0}
        self.evaluated_at = []

    def _load(self, parameters, method):
        self.calls[method] += 1
        self.evaluated_at.append(np.array(parameters))
        self.workspace.parameters[...] = parameters

    def loss(self, parameters):
        self._load(parameters, "loss")
        return self.c * self.workspace.sum_squared_error(self.inputs, self.targets)

    def loss_and_gradient(self, parameters):
        self._load(parameters, "loss_and_gradient")
        sse = self.workspace.accumulate(self.inputs, self.targets, 2 * self.c)
        return self.c * sse, self.workspace.gradient.copy()

    def gauss_newton(self, parameters):
        self._load(parameters, "gauss_newton")
        n = parameters.size
        jtj, jtr = np.zeros((n, n)), np.zeros(n)
        sse = self.workspace.gauss_newton(self.inputs, self.targets, self.c, jtj, jtr)
        return self.c * sse, jtj, jtr


def make_problem(sizes, *, n_samples=10, bias=True, dtype="float64", block_size=64, seed=0):
    rng = np.random.default_rng(seed)
    network = initialize(sizes, rng=rng, bias=bias)
    workspace = GradientWorkspace(sizes, bias=bias, dtype=dtype, block_size=block_size)
    workspace.load(network)
    drivers = rng.random((n_samples, sizes[0]))
    targets = rng.uniform(0.1, 0.9, (n_samples, sizes[-1]))
    return network, workspace, drivers, targets


def residuals(workspace, parameters, drivers, targets):
    """Residuals (prediction minus target), one per (sample, output), sample-major."""
    workspace.parameters[...] = parameters
    return (workspace.predict(drivers) - targets).ravel()


def finite_difference_jacobian(workspace, drivers, targets, step=1e-6):
    start = workspace.parameters.astype(np.float64)
    columns = []
    for index in range(start.size):
        shift = np.zeros_like(start)
        shift[index] = step
        upper = residuals(workspace, start + shift, drivers, targets)
        lower = residuals(workspace, start - shift, drivers, targets)
        columns.append((upper - lower) / (2 * step))
    workspace.parameters[...] = start
    return np.stack(columns, axis=1)


def flat_gradient(network, gradients):
    """`loss_and_gradients` output flattened in the workspace layout (augmented layers, bias as last row)."""
    n_layers = len(network.weights)
    weights = gradients[:n_layers]
    biases = gradients[n_layers:] if network.biases is not None else [None] * n_layers
    layers = [w if b is None else np.vstack([w, b[None, :]]) for w, b in zip(weights, biases)]
    return np.concatenate([layer.ravel() for layer in layers])


def gauss_newton_terms(workspace, drivers, targets, c):
    p = workspace.parameters.size
    jtj, jtr = np.zeros((p, p)), np.zeros(p)
    inputs = augment_inputs(drivers, bias=workspace.bias, dtype=workspace.dtype)
    sse = workspace.gauss_newton(inputs, np.asarray(targets, dtype=workspace.dtype), c, jtj, jtr)
    return sse, jtj, jtr


# --- Gauss-Newton terms ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes", [(2, 3, 1), (3, 4, 3, 2)])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("loss", ["mse", "sse"])
def test_gauss_newton_terms_match_a_finite_difference_jacobian(sizes, bias, loss):
    network, workspace, drivers, targets = make_problem(sizes, bias=bias)
    c = 1.0 / targets.size if loss == "mse" else 1.0
    sse, jtj, jtr = gauss_newton_terms(workspace, drivers, targets, c)
    jacobian = finite_difference_jacobian(workspace, drivers, targets)
    r = residuals(workspace, workspace.parameters, drivers, targets)
    np.testing.assert_allclose(jtj, c * jacobian.T @ jacobian, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jtr, c * jacobian.T @ r, rtol=1e-6, atol=1e-9)
    assert sse == pytest.approx(r @ r, rel=1e-12)
    value, gradients = loss_and_gradients(network, drivers, targets, loss=loss)
    np.testing.assert_allclose(2 * jtr, flat_gradient(network, gradients), rtol=1e-10, atol=1e-13)
    assert c * sse == pytest.approx(value, rel=1e-12)


def test_gauss_newton_adds_into_its_outputs_and_leaves_the_gradient_alone():
    _, workspace, drivers, targets = make_problem((2, 3, 1))
    inputs = augment_inputs(drivers)
    workspace.accumulate(inputs, targets, 0.2)
    gradient = workspace.gradient.copy()
    _, jtj, jtr = gauss_newton_terms(workspace, drivers, targets, 0.1)
    twice_jtj, twice_jtr = jtj.copy(), jtr.copy()
    workspace.gauss_newton(inputs, targets, 0.1, twice_jtj, twice_jtr)
    np.testing.assert_allclose(twice_jtj, 2 * jtj, rtol=1e-14)
    np.testing.assert_allclose(twice_jtr, 2 * jtr, rtol=1e-14)
    np.testing.assert_array_equal(workspace.gradient, gradient)


@pytest.mark.parametrize("jacobian_elements", [None, 7])
def test_gauss_newton_in_blocks_equals_one_block(monkeypatch, jacobian_elements):
    if jacobian_elements is not None:  # also cut blocks into chunks of one row for the Jacobian
        monkeypatch.setattr(workspace_module, "_JACOBIAN_ELEMENTS", jacobian_elements)
    _, whole, drivers, targets = make_problem((3, 4, 3, 2), block_size=64)
    blocked = GradientWorkspace(whole.sizes, block_size=3)
    blocked.parameters[...] = whole.parameters
    expected = gauss_newton_terms(whole, drivers, targets, 0.05)
    got = gauss_newton_terms(blocked, drivers, targets, 0.05)
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_gauss_newton_of_a_float32_workspace_accumulates_in_float64():
    _, exact, drivers, targets = make_problem((3, 4, 3, 2), n_samples=200, block_size=16)
    single = GradientWorkspace(exact.sizes, dtype="float32", block_size=16)
    single.parameters[...] = exact.parameters
    exact.parameters[...] = single.parameters  # the same (float32-representable) weights in both
    expected = gauss_newton_terms(exact, drivers.astype(np.float32), targets.astype(np.float32), 1 / targets.size)
    got = gauss_newton_terms(single, drivers, targets, 1 / targets.size)
    assert got[1].dtype == got[2].dtype == np.float64
    assert got[0] == pytest.approx(expected[0], rel=1e-5)
    np.testing.assert_allclose(got[1], expected[1], rtol=1e-5, atol=1e-7 * np.abs(expected[1]).max())
    np.testing.assert_allclose(got[2], expected[2], rtol=1e-4, atol=1e-6 * np.abs(expected[2]).max())


def test_gauss_newton_rejects_outputs_of_the_wrong_shape_or_dtype():
    _, workspace, drivers, targets = make_problem((2, 3, 1))
    p = workspace.parameters.size
    with pytest.raises(ValueError, match="jtj_out must be a float64 array"):
        workspace.gauss_newton(augment_inputs(drivers), targets, 0.1, np.zeros((p, p), np.float32), np.zeros(p))
    with pytest.raises(ValueError, match="jtr_out must be a float64 array"):
        workspace.gauss_newton(augment_inputs(drivers), targets, 0.1, np.zeros((p, p)), np.zeros(p + 1))


@settings(max_examples=20, deadline=None)
@given(
    hidden=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    n_inputs=st.integers(1, 3),
    n_outputs=st.integers(1, 3),
    bias=st.booleans(),
    n_samples=st.integers(1, 9),
    block_size=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_gauss_newton_matches_finite_differences_for_any_shape(hidden, n_inputs, n_outputs, bias, n_samples, block_size, seed):
    sizes = (n_inputs, *hidden, n_outputs)
    _, workspace, drivers, targets = make_problem(sizes, n_samples=n_samples, bias=bias, block_size=block_size, seed=seed)
    _, jtj, jtr = gauss_newton_terms(workspace, drivers, targets, 1.0)
    jacobian = finite_difference_jacobian(workspace, drivers, targets)
    r = residuals(workspace, workspace.parameters, drivers, targets)
    np.testing.assert_allclose(jtj, jacobian.T @ jacobian, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(jtr, jacobian.T @ r, rtol=1e-6, atol=1e-9)


# --- Levenberg-Marquardt -----------------------------------------------------------------------------


def reference_lm_step(workspace, drivers, targets, damping):
    """``solve(c J.T J + mu I, -c J.T r)`` from the finite-difference Jacobian."""
    c = 1.0 / targets.size
    jacobian = finite_difference_jacobian(workspace, drivers, targets)
    r = residuals(workspace, workspace.parameters, drivers, targets)
    system = c * jacobian.T @ jacobian + damping * np.eye(jacobian.shape[1])
    return np.linalg.solve(system, -c * jacobian.T @ r)


class RejectFirstTrials(ArrayObjective):
    """Reports a higher loss for the first ``n_rejected`` trial points, and checks the stepped vector is untouched."""

    def __init__(self, *args, n_rejected, watched, **kwargs):
        super().__init__(*args, **kwargs)
        self.n_rejected, self.watched, self.original = n_rejected, watched, watched.copy()

    def loss(self, parameters):
        np.testing.assert_array_equal(self.watched, self.original)  # nothing written before acceptance
        value = super().loss(parameters)
        if self.calls["loss"] <= self.n_rejected:
            return value + 1.0
        return value


def test_lm_first_accepted_step_is_the_damped_gauss_newton_step():
    _, workspace, drivers, targets = make_problem((2, 3, 1), n_samples=8)
    start = workspace.parameters.copy()
    expected = reference_lm_step(workspace, drivers, targets, 0.01)
    objective = ArrayObjective(workspace, drivers, targets)
    optimizer = LevenbergMarquardt(damping=0.01)
    parameters = start.copy()
    result = optimizer.step(parameters, objective)
    assert objective.calls == {"loss": 1, "loss_and_gradient": 0, "gauss_newton": 1}
    assert optimizer.current_damping == pytest.approx(0.01 * 0.1)
    np.testing.assert_allclose(parameters - start, expected, rtol=1e-6, atol=1e-9)
    assert result.converged is None
    assert result.loss == pytest.approx(np.mean(residuals(workspace, start, drivers, targets) ** 2))


def test_lm_rejected_trial_grows_the_damping_and_solves_again():
    _, workspace, drivers, targets = make_problem((2, 3, 1), n_samples=8)
    start = workspace.parameters.copy()
    first = reference_lm_step(workspace, drivers, targets, 0.01)
    second = reference_lm_step(workspace, drivers, targets, 0.01 * 4.0)
    parameters = start.copy()
    objective = RejectFirstTrials(workspace, drivers, targets, n_rejected=1, watched=parameters)
    optimizer = LevenbergMarquardt(damping=0.01, damping_increase=4.0, damping_decrease=0.5)
    assert optimizer.step(parameters, objective).converged is None
    assert objective.calls["loss"] == 2
    np.testing.assert_allclose(objective.evaluated_at[1] - start, first, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(parameters - start, second, rtol=1e-6, atol=1e-9)
    assert optimizer.current_damping == pytest.approx(0.01 * 4.0 * 0.5)


def toy_problem(dtype="float64", seed=0):
    """y = 0.2 + 0.6 x**2 on [0, 1], with a (1, 4, 1) network."""
    drivers = np.linspace(0, 1, 40)[:, None]
    targets = 0.2 + 0.6 * drivers**2
    workspace = GradientWorkspace((1, 4, 1), dtype=dtype)
    workspace.load(initialize((1, 4, 1), rng=np.random.default_rng(seed)))
    return workspace, ArrayObjective(workspace, drivers, targets)


def test_lm_fits_the_toy_in_few_steps():
    workspace, objective = toy_problem()
    parameters, optimizer = workspace.parameters.copy(), LevenbergMarquardt()
    for step in range(100):
        if optimizer.step(parameters, objective).loss < 1e-5:
            break
    assert step < 99
    assert objective.loss(parameters) < 1e-5


def test_lm_steps_float32_parameters_in_place():
    workspace, objective = toy_problem("float32")
    parameters, optimizer = workspace.parameters.copy(), LevenbergMarquardt()
    losses = [optimizer.step(parameters, objective).loss for _ in range(20)]
    assert parameters.dtype == np.float32
    assert losses[-1] < 0.1 * losses[0]


def test_lm_reports_convergence_at_an_exact_fit_and_keeps_the_parameters():
    workspace, objective = toy_problem()
    objective.targets = workspace.predict(np.linspace(0, 1, 40)[:, None])  # the network fits exactly: loss 0
    parameters = workspace.parameters.copy()
    before = parameters.copy()
    optimizer = LevenbergMarquardt(max_damping=1e6)
    result = optimizer.step(parameters, objective)
    assert result.loss == 0.0
    assert result.converged == (
        "Levenberg-Marquardt: no step lowers the training loss even with damping 1e+06; the fit has converged"
    )
    np.testing.assert_array_equal(parameters, before)
    assert objective.calls["loss"] == 10  # damping 1e-3, 1e-2, ..., 1e6


def test_lm_rejecting_every_trial_leaves_the_parameters_unchanged():
    workspace, _ = toy_problem()
    parameters = workspace.parameters.copy()
    before = parameters.copy()
    drivers = np.linspace(0, 1, 40)[:, None]
    objective = RejectFirstTrials(workspace, drivers, 0.2 + 0.6 * drivers**2, n_rejected=10**6, watched=parameters)
    result = LevenbergMarquardt().step(parameters, objective)
    assert "no step lowers the training loss even with damping 1e+10" in result.converged
    np.testing.assert_array_equal(parameters, before)


def test_lm_leaves_parameters_alone_when_the_starting_loss_is_not_finite():
    class Diverged:
        def gauss_newton(self, parameters):
            return float("nan"), np.eye(parameters.size), np.zeros(parameters.size)

    parameters = np.ones(3)
    result = LevenbergMarquardt().step(parameters, Diverged())
    assert np.isnan(result.loss) and result.converged is None
    np.testing.assert_array_equal(parameters, np.ones(3))


# --- L-BFGS -------------------------------------------------------------------------------------------


def test_lbfgs_minimises_the_toy():
    workspace, objective = toy_problem()
    parameters, optimizer = workspace.parameters.copy(), LBFGS()
    first = optimizer.step(parameters, objective).loss
    for _ in range(400):
        result = optimizer.step(parameters, objective)
        if result.converged:
            break
    assert objective.loss(parameters) < 1e-4 < first
    # one evaluation per step once the line search takes the full quasi-Newton step
    assert objective.calls["loss_and_gradient"] < 2 * 400


class Scripted:
    """An objective answering from a function of the parameters, counting evaluations."""

    def __init__(self, function):
        self.function, self.points = function, []

    def loss_and_gradient(self, parameters):
        self.points.append(np.array(parameters))
        return self.function(np.asarray(parameters, dtype=np.float64))


def bowl(w):
    scales = np.array([1.0, 10.0, 100.0])
    return float(np.sum(scales * (w - 1) ** 2)), 2 * scales * (w - 1)


def test_lbfgs_finds_the_minimum_of_an_ill_conditioned_bowl_and_then_reports_convergence():
    parameters, optimizer, objective = np.zeros(3), LBFGS(), Scripted(bowl)
    results = [optimizer.step(parameters, objective) for _ in range(60)]
    np.testing.assert_allclose(parameters, 1.0, atol=1e-8)
    assert any(r.converged and r.converged.startswith("L-BFGS:") for r in results)
    assert optimizer.n_pairs <= optimizer.history


def test_lbfgs_skips_pairs_without_positive_curvature():
    # the gradient grows along the step (s.y < 0), as on a concave stretch
    def concave(w):
        return float(-np.sum(w)), np.full_like(w, -1.0) * (1 + np.sum(np.abs(w)))

    parameters, optimizer = np.zeros(2), LBFGS()
    optimizer.step(parameters, Scripted(concave))
    assert optimizer.n_pairs == 0
    # and keeps those with positive curvature
    parameters, optimizer = np.zeros(3), LBFGS()
    optimizer.step(parameters, Scripted(bowl))
    assert optimizer.n_pairs == 1


def test_lbfgs_reuses_the_cached_gradient_and_drops_it_when_parameters_change():
    parameters, optimizer, objective = np.zeros(3), LBFGS(), Scripted(bowl)
    optimizer.step(parameters, objective)
    after_first = len(objective.points)
    accepted = parameters.copy()
    optimizer.step(parameters, objective)
    # no evaluation at the starting point: the first evaluation of the step is already a trial point
    assert not np.array_equal(objective.points[after_first], accepted)
    parameters[0] += 0.5  # changed by someone else (e.g. restored best weights)
    changed = parameters.copy()
    n_before = len(objective.points)
    optimizer.step(parameters, objective)
    np.testing.assert_array_equal(objective.points[n_before], changed)


def test_lbfgs_reports_convergence_at_a_zero_gradient():
    parameters = np.ones(3)
    result = LBFGS().step(parameters, Scripted(bowl))
    assert result.loss == 0.0 and "gradient is zero" in result.converged
    np.testing.assert_array_equal(parameters, np.ones(3))


def test_lbfgs_reports_convergence_when_no_step_lowers_the_loss():
    # a gradient that points the wrong way: no step along -g lowers the loss
    def misleading(w):
        return float(np.sum(w)), -np.ones_like(w)

    parameters = np.zeros(2)
    result = LBFGS(max_line_search=5).step(parameters, Scripted(misleading))
    assert "line search found no step" in result.converged and "5 trials" in result.converged
    np.testing.assert_array_equal(parameters, np.zeros(2))


def test_lbfgs_keeps_float32_parameters_float32():
    workspace, objective = toy_problem("float32")
    parameters, optimizer = workspace.parameters.copy(), LBFGS()
    losses = [optimizer.step(parameters, objective).loss for _ in range(30)]
    assert parameters.dtype == np.float32
    assert losses[-1] < losses[0]


# --- registry and options -----------------------------------------------------------------------------


def test_both_are_registered_with_their_capabilities():
    assert OPTIMIZERS["lm"] is LevenbergMarquardt and OPTIMIZERS["lbfgs"] is LBFGS
    assert LevenbergMarquardt.needs_gauss_newton and not LBFGS.needs_gauss_newton
    assert not LevenbergMarquardt.minibatch and not LBFGS.minibatch
    assert LevenbergMarquardt.default_learning_rate is None and LBFGS.default_learning_rate is None
    assert (LevenbergMarquardt.auto_epochs, LBFGS.auto_epochs, LevenbergMarquardt.auto_patience, LBFGS.auto_patience) == (
        1000,
        2000,
        5,
        10,
    )
    assert LevenbergMarquardt.option_names() == ["damping", "damping_increase", "damping_decrease", "max_damping"]
    assert LBFGS.option_names() == ["history", "max_line_search", "armijo"]
    assert make_optimizer("lm", options={"damping": 0.5}).options()["damping"] == 0.5


@pytest.mark.parametrize(
    ("name", "options", "named"),
    [
        ("lm", {"dampening": 1.0}, "dampening"),
        ("lm", {"damping": -1.0}, "damping"),
        ("lm", {"damping": "x"}, "damping"),
        ("lm", {"damping_increase": 0.5}, "damping_increase"),
        ("lm", {"damping_decrease": 2}, "damping_decrease"),
        ("lm", {"damping_decrease": 0}, "damping_decrease"),
        ("lm", {"max_damping": 1e-6}, "max_damping"),
        ("lbfgs", {"memory": 5}, "memory"),
        ("lbfgs", {"history": 0}, "history"),
        ("lbfgs", {"history": 1.5}, "history"),
        ("lbfgs", {"history": "x"}, "history"),
        ("lbfgs", {"history": True}, "history"),
        ("lbfgs", {"max_line_search": 0}, "max_line_search"),
        ("lbfgs", {"armijo": 1.0}, "armijo"),
    ],
)
def test_nonsense_options_name_the_option(name, options, named):
    with pytest.raises(ValueError, match=named):
        make_optimizer(name, options=options)


@pytest.mark.parametrize("name", ["lm", "lbfgs"])
def test_a_learning_rate_is_refused(name):
    with pytest.raises(ValueError, match="takes no learning_rate"):
        make_optimizer(name, learning_rate=0.1)


def test_lm_refuses_large_networks_and_points_to_lbfgs():
    LevenbergMarquardt.check_size(2000)
    with pytest.raises(ValueError, match="lbfgs"):
        LevenbergMarquardt.check_size(5000)
    LBFGS.check_size(10**7)
