"""Bad input to ``accelgen run``, for every design (docs/robustness.md).

Every broken input file (missing or unknown arrays, wrong dtypes, NaN/inf, object arrays,
wrong shapes, empty arrays, values outside the operand range, unreadable files) ends in exit
status 2 with exactly one line on stderr, ``accelgen: error: ...``, no traceback, and no
output file. The simulation is replaced by a sentinel, so no case can run one: a case that
reached it would be an input the command accepted.
"""

import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from accelgen.generators import all_designs, get_design
from accelgen.sim import flow
from accelgen.sim.cli import main
from accelgen.verif import golden
from param_strategies import examples

DESIGNS = list(all_designs())

_MATMUL = {"a": np.array([[1, -2, 3], [4, 5, -6]]), "b": np.array([[1, 2], [3, -4], [5, 6]])}
#: A small valid input of each design at its default parameters.
VALID = {
    "gelu": {"x": np.array([[-8, 0, 7], [1, 2, 3]])},
    "silu": {"x": np.array([-8, 0, 7])},
    "exp": {"d": np.array([0, 1, 200])},
    "softmax": {"x": np.array([[1, -2, 3, 4], [0, 0, 0, 1]]), "mask": np.array([[0, 1, 0, 0], [0, 0, 0, 0]], bool)},
    "attention": {"q": np.ones((2, 4), int), "k": np.ones((3, 4), int), "v": np.ones((3, 4), int),
                  "causal": np.array(True)},
    "pim_ctrl": {"w": np.array([[1, -2, 3, 4], [5, 6, 7, -8]]), "x": np.array([1, 2, 3, -4])},
    **{name: _MATMUL for name in ("systolic", "systolic_ws", "tree", "matrix2d", "cube3d", "gemm")},
}
#: Arrays whose shape is free ("any shape"): no wrong-ndim case for them.
ANY_SHAPE = {"gelu": {"x"}, "silu": {"x"}, "exp": {"d"}}


class WouldSimulate(Exception):
    """Raised instead of running the simulation: the inputs were accepted."""


@pytest.fixture(autouse=True)
def no_simulation(monkeypatch):
    def refuse(*args, **kwargs):
        raise WouldSimulate()

    monkeypatch.setattr(flow, "run_jobs", refuse)


def _mutations(name: str) -> list[tuple[str, dict]]:
    """``(label, arrays)`` of broken inputs built from the valid ones of ``name``."""
    valid = VALID[name]
    cases = [("unknown_array", valid | {"bogus": np.zeros(2, int)})]
    for key, array in valid.items():
        others = {k: v for k, v in valid.items() if k != key}
        if key not in ("mask", "causal"):
            cases.append((f"missing_{key}", others))
        shape = array.shape
        cases += [
            (f"{key}_float_fraction", others | {key: array + 0.5}),
            (f"{key}_complex", others | {key: array.astype(complex)}),
            (f"{key}_str", others | {key: array.astype(str)}),
            (f"{key}_nan", others | {key: np.full(shape, np.nan)}),
            (f"{key}_inf", others | {key: np.full(shape, -np.inf)}),
            (f"{key}_empty", others | {key: np.zeros((0,) + shape[1:], array.dtype)}),
            (f"{key}_object", others | {key: np.array([None] * max(1, array.size), dtype=object)}),
            (f"{key}_structured", others | {key: np.zeros(shape, dtype=[("re", "i4"), ("im", "i4")])}),
        ]
        if array.dtype != bool:
            cases += [
                (f"{key}_bool", others | {key: array != 0}),
                (f"{key}_huge", others | {key: np.full(shape, 1 << 40)}),
                (f"{key}_huge_negative", others | {key: np.full(shape, -(1 << 62))}),
                (f"{key}_uint64_max", others | {key: np.full(shape, np.iinfo(np.uint64).max, np.uint64)}),
            ]
        if key == "causal":
            cases += [("causal_vector", others | {key: np.array([True, False])}),
                      ("causal_two", others | {key: np.array(2)})]
        if key == "mask":
            cases += [("mask_wrong_shape", others | {key: np.zeros((2, 3), bool)}),
                      ("mask_values_2", others | {key: np.full(shape, 2)})]
        if key not in ANY_SHAPE.get(name, set()) and key not in ("causal",):
            cases += [(f"{key}_extra_axis", others | {key: array[..., None, None]}),
                      (f"{key}_scalar", others | {key: array.ravel()[0]})]
    if "a" in valid:
        cases.append(("k_mismatch", {"a": valid["a"], "b": valid["b"][:2]}))
    if name == "attention":
        cases.append(("d_mismatch", valid | {"k": np.ones((3, 5), int), "v": np.ones((3, 5), int)}))
        cases.append(("kv_mismatch", valid | {"v": np.ones((2, 4), int)}))
    if name == "pim_ctrl":
        cases.append(("k_mismatch", {"w": valid["w"], "x": valid["x"][:3]}))
    return cases


def _run(capsys, tmp_path, design, inputs, params=()):
    """``accelgen run`` on ``inputs`` (a path); its status and stderr lines."""
    out = tmp_path / "out.npz"
    args = ["run", design, "--inputs", str(inputs), "--outputs", str(out)]
    for assignment in params:
        args += ["-p", assignment]
    capsys.readouterr()
    status = main(args)
    err = capsys.readouterr().err.splitlines()
    assert not out.exists() and not list(tmp_path.glob("out*")), "an output file was written on error"
    return status, err


def _assert_one_line_error(status, err, label):
    assert status == 2, f"{label}: exit status {status}"
    assert len(err) == 1 and err[0].startswith("accelgen: error: "), f"{label}: stderr {err}"
    assert "Traceback" not in err[0]


@pytest.mark.parametrize("name", DESIGNS)
def test_valid_inputs_reach_the_simulation(name, tmp_path):
    """The base inputs are valid, so each broken case fails because of its one change."""
    params = get_design(name).params()
    assert flow.user_jobs(name, params, VALID[name])
    np.savez(tmp_path / "in.npz", **VALID[name])
    with pytest.raises(WouldSimulate):
        main(["run", name, "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out.npz")])


@pytest.mark.parametrize("name", DESIGNS)
def test_broken_arrays_exit_2_with_one_line(name, tmp_path, capsys):
    """Every broken variant of the design's inputs: status 2, one line, no output file."""
    accepted = []
    for label, arrays in _mutations(name):
        path = tmp_path / f"{label}.npz"
        np.savez(path, allow_pickle=True, **arrays)
        try:
            status, err = _run(capsys, tmp_path, name, path)
        except WouldSimulate:
            accepted.append(label)
            continue
        _assert_one_line_error(status, err, f"{name} {label}")
    assert not accepted, f"{name}: broken inputs accepted: {accepted}"


def test_bf16_pim_refuses_non_finite_and_out_of_range_floats(tmp_path, capsys):
    """With ``elem=bf16`` floats are legal, NaN, infinity and values past the bf16 range are not."""
    valid = {"w": np.array([[0.5, -1.25], [3.0, 4.0]]), "x": np.array([1.0, 2.0])}
    np.savez(tmp_path / "ok.npz", **valid)
    with pytest.raises(WouldSimulate):
        main(["run", "pim_ctrl", "-p", "elem=bf16", "--inputs", str(tmp_path / "ok.npz"),
              "--outputs", str(tmp_path / "out.npz")])
    for label, w in (("nan", np.full((2, 2), np.nan)), ("inf", np.full((2, 2), np.inf)),
                     ("too_large", np.full((2, 2), 1e300)), ("complex", np.ones((2, 2), complex))):
        np.savez(tmp_path / f"{label}.npz", w=w, x=valid["x"])
        status, err = _run(capsys, tmp_path, "pim_ctrl", tmp_path / f"{label}.npz", ["elem=bf16"])
        _assert_one_line_error(status, err, label)


def _broken_files(tmp_path):
    good = tmp_path / "good.npz"
    np.savez(good, **_MATMUL)
    data = good.read_bytes()
    files = {"missing": tmp_path / "does_not_exist.npz", "directory": tmp_path / "folder"}
    files["directory"].mkdir()
    for label, content in (("text", b"a,b\n1,2\n"), ("empty", b""), ("truncated", data[: len(data) // 2]),
                           ("truncated_tail", data[:-10]), ("pickle", b"\x80\x04N.")):
        files[label] = tmp_path / f"{label}.npz"
        files[label].write_bytes(content)
    files["npy"] = tmp_path / "single.npy"
    np.save(files["npy"], np.arange(3))
    files["bad_member"] = tmp_path / "bad_member.npz"
    with zipfile.ZipFile(files["bad_member"], "w") as archive:
        archive.writestr("a.npy", b"not an npy header")
    files["pickled"] = tmp_path / "pickled.npz"
    np.savez(files["pickled"], allow_pickle=True, a=np.array([{"x": 1}], dtype=object), b=_MATMUL["b"])
    return files


@pytest.mark.parametrize("name", DESIGNS)
def test_unreadable_input_files_exit_2_with_one_line(name, tmp_path, capsys):
    """Missing path, a directory, text, empty, truncated, .npy, a bad member, pickled objects."""
    for label, path in _broken_files(tmp_path).items():
        status, err = _run(capsys, tmp_path, name, path)
        _assert_one_line_error(status, err, f"{name} {label}")


def test_outputs_in_a_missing_folder_is_refused_before_the_simulation(tmp_path, capsys):
    """A ``--outputs`` path that cannot be written fails first, not after a long simulation."""
    np.savez(tmp_path / "in.npz", **_MATMUL)
    for out in (tmp_path / "no" / "such" / "out.npz", tmp_path):
        capsys.readouterr()
        assert main(["run", "systolic", "--inputs", str(tmp_path / "in.npz"), "--outputs", str(out)]) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 1 and err[0].startswith("accelgen: error: --outputs")


def test_a_failed_write_leaves_no_output_file(tmp_path, monkeypatch, capsys):
    """An error while writing (disk full, permissions) is one line, and no partial file stays."""
    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(flow, "run_user", lambda *args, **kwargs: {"c": np.zeros((2, 2), np.int64)})
    monkeypatch.setattr(np, "savez", fail)
    np.savez_compressed(tmp_path / "in.npz", **_MATMUL)
    status, err = _run(capsys, tmp_path, "systolic", tmp_path / "in.npz")
    _assert_one_line_error(status, err, "failed write")
    assert "No space left" in err[0] and not list(tmp_path.glob(".out*"))


def test_outputs_are_written_only_after_success(tmp_path, monkeypatch, capsys):
    """A failure after the simulation (here in the host's output step) leaves no output file."""
    def fail(*args, **kwargs):
        raise ValueError("late failure")

    monkeypatch.setattr(flow, "run_user", fail)
    np.savez(tmp_path / "in.npz", **_MATMUL)
    status, err = _run(capsys, tmp_path, "systolic", tmp_path / "in.npz")
    _assert_one_line_error(status, err, "late failure")


_DTYPES = st.sampled_from([np.int8, np.int16, np.int64, np.uint8, np.uint64, np.float32, np.float64, np.bool_,
                           np.complex64])


def _random_array():
    return _DTYPES.flatmap(lambda dtype: hnp.arrays(dtype, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                                            max_side=5)))


@pytest.mark.parametrize("name", DESIGNS)
@settings(max_examples=examples(25), suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_random_arrays_are_accepted_or_refused_in_one_line(name, data, tmp_path_factory, capsys):
    """Arbitrary arrays (dtype, shape, values) under the design's names: either the inputs reach
    the simulation, or status 2 with one line; never another exception."""
    keys = data.draw(st.lists(st.sampled_from(sorted(VALID[name]) + ["bogus"]), unique=True, min_size=1),
                     label="keys")
    arrays = {key: data.draw(_random_array(), label=key) for key in keys}
    tmp_path = tmp_path_factory.mktemp("random")
    np.savez(tmp_path / "in.npz", **arrays)
    try:
        status, err = _run(capsys, tmp_path, name, tmp_path / "in.npz")
    except WouldSimulate:
        return
    _assert_one_line_error(status, err, f"{name} {list(arrays)}")


def test_uint64_codes_above_the_int64_range_are_refused():
    """A uint64 above 2**63 wrapped to a negative int64 and passed a signed range check."""
    with pytest.raises(ValueError, match=r"a has values in .*outside the signed 8-bit range -128\.\.127"):
        golden.check_fits("a", np.array([1, np.iinfo(np.uint64).max], np.uint64), 8, True)


def test_outputs_without_the_npz_suffix_are_written_complete(tmp_path, monkeypatch):
    """After success the output file is complete, named as numpy names it (``.npz`` appended),
    and no temporary file stays."""
    monkeypatch.setattr(flow, "run_user", lambda *args, **kwargs: {"c": np.arange(4).reshape(2, 2)})
    np.savez(tmp_path / "in.npz", **_MATMUL)
    assert main(["run", "systolic", "--inputs", str(tmp_path / "in.npz"), "--outputs", str(tmp_path / "out")]) == 0
    with np.load(tmp_path / "out.npz") as saved:
        assert saved["c"].tolist() == [[0, 1], [2, 3]]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.npz", "out.npz"]
