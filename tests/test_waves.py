"""Waveforms of usable size: the VCD window cut (against an independent replay of the whole
file), the options' errors, and ``accelgen sim --trace-depth --waves-from --waves-to``."""

import random
import re

import pytest

from accelgen.sim.cli import main
from accelgen.sim.runner import cxx_opt_args
from accelgen.sim.waves import WaveOptions, window_vcd


def _random_vcd(rng, path, signals=6, steps=300) -> None:
    """A VCD with scalar and vector signals changing at random times (timescale 1ps)."""
    idents = [chr(33 + i) for i in range(signals)]
    lines = ["$timescale 1ps $end", "$scope module top $end"]
    lines += [f"$var wire {1 if i % 2 else 8} {ident} s{i} $end" for i, ident in enumerate(idents)]
    lines += ["$upscope $end", "$enddefinitions $end", "#0", "$dumpvars"]
    lines += [_value(rng, i, ident) for i, ident in enumerate(idents)] + ["$end"]
    time = 0
    for _ in range(steps):
        time += rng.choice([1000, 5000, 10000, 20000])
        lines.append(f"#{time}")
        lines += [_value(rng, i, ident) for i, ident in enumerate(idents) if rng.random() < 0.4]
    path.write_text("\n".join(lines) + "\n")


def _value(rng, index, ident) -> str:
    return f"{rng.randrange(2)}{ident}" if index % 2 else f"b{rng.randrange(256):b} {ident}"


def _replay(path) -> list[tuple[int, dict]]:
    """``[(time, {ident: value text})]``: the state after each time step (a separate reader)."""
    states, state, time = [], {}, None
    body = path.read_text().split("$enddefinitions $end", 1)[1]
    for line in body.split("\n"):
        line = line.strip()
        if line.startswith("#"):
            if time is not None:
                states.append((time, dict(state)))
            time = int(line[1:])
        elif line.startswith("b"):
            value, ident = line.split()
            state[ident] = value
        elif re.fullmatch(r"[01xz].", line):
            state[line[1]] = line[0]
    states.append((time, dict(state)))
    return states


def _state_at(states, time) -> dict:
    current = {}
    for when, state in states:
        if when > time:
            break
        current = state
    return current


@pytest.mark.parametrize("window", [(3, 40), (0, 12), (25, None), (1000, 1001)])
def test_window_keeps_exactly_the_states_inside(window, seed, tmp_path):
    rng = random.Random(seed)
    full, cut = tmp_path / "full.vcd", tmp_path / "cut.vcd"
    _random_vcd(rng, full)
    start, stop = window
    info = window_vcd(full, cut, start, stop)
    begin, end = start * 10_000, None if stop is None else stop * 10_000
    original, windowed = _replay(full), _replay(cut)
    times = [t for t, _ in windowed]
    assert times[0] == begin and all(begin <= t for t in times)
    if end is not None:
        assert max(times) == end and all(t < end for t, _ in windowed[:-1])
    # At every time inside the window the cut file says what the whole file says.
    probes = sorted({t for t, _ in original if t >= begin and (end is None or t < end)} | {begin})
    for time in probes:
        assert _state_at(windowed, time) == _state_at(original, time), time
    assert info["signals"] == 6
    assert cut.read_text().split("$enddefinitions $end")[0] == full.read_text().split("$enddefinitions $end")[0]


def test_wave_options_reject_bad_values():
    with pytest.raises(ValueError, match="depth=0"):
        WaveOptions(depth=0)
    with pytest.raises(ValueError, match="stop=5 is not legal: must be greater than start=5"):
        WaveOptions(start=5, stop=5)
    with pytest.raises(ValueError, match="start=-1"):
        WaveOptions(start=-1)
    assert WaveOptions(depth=2).build_args() == ("--trace-depth", "2") and not WaveOptions(depth=2).windowed


@pytest.mark.cocotb
def test_sim_records_a_shallow_window(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELGEN_BUILD_DIR", str(tmp_path / "build"))
    assert main(["sim", "exp", "--seed", "1", "--trace-depth", "1", "--waves-from", "20", "--waves-to", "60"]) == 0
    out = capsys.readouterr().out
    path = re.search(r"waveform: (\S+dump_window\.vcd)", out).group(1)
    text = open(path).read()
    header, body = text.split("$enddefinitions $end")
    times = [int(t) for t in re.findall(r"^#(\d+)$", body, re.M)]
    assert times[0] == 200_000 and times[-1] == 600_000  # cycles 20..60 of 10 ns, in ps
    # Depth 1: the top module's own signals, none of its submodules'.
    assert re.search(r"\$scope module exp_\w+ \$end", header)
    assert header.count("$scope module") <= 2
    assert not list((tmp_path / "build").rglob("dump.vcd"))  # the whole trace is not kept
    assert main(["sim", "exp", "--waves-from", "9", "--waves-to", "3"]) == 2


def test_cxx_optimization_is_a_checked_build_flag():
    """``ACCELGEN_SIM_CXX_OPT`` becomes a ``-CFLAGS`` build flag (so part of the build hash);
    anything but an optimization flag is refused with its name and the legal values."""
    assert cxx_opt_args({}) == []
    assert cxx_opt_args({"ACCELGEN_SIM_CXX_OPT": " -O0 "}) == ["-CFLAGS", "-O0"]
    for value in ("-O2", "-Os", "-Ofast"):
        assert cxx_opt_args({"ACCELGEN_SIM_CXX_OPT": value}) == ["-CFLAGS", value]
    for bad in ("O2", "-O9", "-O0 -g", "-march=native"):
        with pytest.raises(ValueError, match=r"ACCELGEN_SIM_CXX_OPT=.*-O0, -O1"):
            cxx_opt_args({"ACCELGEN_SIM_CXX_OPT": bad})
