# amaranth: UnusedElaboratable=no
"""The AXI4-Stream interface (``interface=axis``): the wrapper's port map and bit mapping in the
Amaranth simulator, the frame packing of the cocotbext-axi drivers, the parameters, lint, and
every family's regression through the wrapper on Verilator with cocotbext-axi's sources,
sinks and monitors (random pauses and backpressure, bit-exact against the golden model).
"""

import hashlib
import json
import random

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from accelgen.generators import all_designs, get_design
from accelgen.generators.export import write_design
from accelgen.hdl.axis import AxisWrapper, axis_stream_map
from accelgen.hdl.layouts import TileStreamSignature
from accelgen.sim import flow
from accelgen.sim.cli import main
from accelgen.sim.lint import lint_design
from accelgen.verif import plan_for
from accelgen.verif.stress import one_per_host
from accelgen.verif.axis_streams import AxisProtocolError, beats_of, frames_of

# ---------------------------------------------------------------------------------------------
# The wrapper on a small core: one input stream (12-bit data + last), one without last, one
# output stream (registered copy of the first), one plain port.


class _EchoCore(wiring.Component):
    """Registers the ``x`` beat into ``y``; ``z`` is always ready; ``seen`` counts ``z`` beats."""

    def __init__(self):
        super().__init__({
            "x": In(TileStreamSignature(12, 1)),
            "z": In(TileStreamSignature(3, 1, last=False)),
            "y": Out(TileStreamSignature(12, 1)),
            "seen": Out(8),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.x.ready.eq(~self.y.valid | self.y.ready), self.z.ready.eq(1)]
        with m.If(self.y.ready):
            m.d.sync += self.y.valid.eq(0)
        with m.If(self.x.valid & self.x.ready):
            m.d.sync += [self.y.payload.eq(self.x.payload), self.y.valid.eq(1)]
        with m.If(self.z.valid):
            m.d.sync += self.seen.eq(self.seen + 1)
        return m


def test_stream_map_names_widths_and_tlast():
    streams = axis_stream_map(_EchoCore())
    assert streams["x"] == {"port": "s_axis_x", "input": True, "tdata_bits": 12, "tdata_width": 16, "tlast": True}
    assert streams["z"] == {"port": "s_axis_z", "input": True, "tdata_bits": 3, "tdata_width": 8, "tlast": False}
    assert streams["y"] == {"port": "m_axis_y", "input": False, "tdata_bits": 12, "tdata_width": 16, "tlast": True}
    wrapper = AxisWrapper(_EchoCore())
    assert set(wrapper.signature.members) == {
        "aclk", "aresetn", "seen", "s_axis_x_tdata", "s_axis_x_tvalid", "s_axis_x_tready", "s_axis_x_tlast",
        "s_axis_z_tdata", "s_axis_z_tvalid", "s_axis_z_tready",
        "m_axis_y_tdata", "m_axis_y_tvalid", "m_axis_y_tready", "m_axis_y_tlast"}
    assert "areset" in AxisWrapper(_EchoCore(), reset="areset").signature.members
    with pytest.raises(ValueError, match="reset='rst'"):
        AxisWrapper(_EchoCore(), reset="rst")


@pytest.mark.parametrize("reset", ["aresetn", "areset"])
def test_wrapper_maps_bits_and_reset_polarity(reset, seed):
    """Random beats through the wrapper: tdata (with junk in the padding) and tlast reach the
    core's payload, come back on m_axis_y with zero padding; the reset port has its polarity."""
    rng = random.Random(seed)
    wrapper = AxisWrapper(_EchoCore(), reset=reset)
    port = getattr(wrapper, reset)
    idle, active = (1, 0) if reset == "aresetn" else (0, 1)
    sim = Simulator(wrapper)

    async def bench(ctx):
        ctx.set(port, idle)
        ctx.set(wrapper.m_axis_y_tready, 1)
        for _ in range(40):
            data, last, junk = rng.randrange(1 << 12), rng.randrange(2), rng.randrange(16)
            ctx.set(wrapper.s_axis_x_tdata, data | junk << 12)
            ctx.set(wrapper.s_axis_x_tlast, last)
            ctx.set(wrapper.s_axis_x_tvalid, 1)
            ctx.set(wrapper.s_axis_z_tvalid, 1)
            await ctx.tick("sync")
            assert ctx.get(wrapper.m_axis_y_tvalid) == 1
            assert ctx.get(wrapper.m_axis_y_tdata) == data  # padding bits out are 0
            assert ctx.get(wrapper.m_axis_y_tlast) == last
        assert ctx.get(wrapper.seen) == 40
        ctx.set(port, active)
        await ctx.tick("sync")
        assert ctx.get(wrapper.seen) == 0 and ctx.get(wrapper.m_axis_y_tvalid) == 0

    _drive_aclk(sim, wrapper)
    sim.add_testbench(bench)
    sim.run()


def _drive_aclk(sim, wrapper):
    """The wrapper's clock is its aclk port: toggle it from a process."""
    async def clock(ctx):
        while True:
            ctx.set(wrapper.aclk, 0)
            await ctx.delay(0.5e-6)
            ctx.set(wrapper.aclk, 1)
            await ctx.delay(0.5e-6)
    sim.add_process(clock)


# ---------------------------------------------------------------------------------------------
# Frames of the cocotbext-axi drivers


def test_frames_split_at_last_and_round_trip(seed):
    rng = random.Random(seed)
    bits, nbytes = 13, 2
    words = [rng.randrange(1 << bits) | (rng.random() < 0.3) << bits for _ in range(50)] + [1 << bits]
    frames = frames_of(words, bits, True, nbytes)
    assert len(frames) == sum(word >> bits for word in words)
    assert b"".join(frames) == b"".join((w & ((1 << bits) - 1)).to_bytes(nbytes, "little") for w in words)
    assert sum((beats_of(frame, bits, True, nbytes, "t") for frame in frames), []) == words
    # Without tlast every beat is a frame of its own and no bit is added.
    assert [beats_of(f, bits, False, nbytes, "t") for f in frames_of([5, 6], bits, False, nbytes)] == [[5], [6]]


def test_frames_reject_what_axis_cannot_carry():
    with pytest.raises(ValueError, match="after the last 'last' beat"):
        frames_of([1 << 4, 3], 4, True, 1)
    with pytest.raises(AxisProtocolError, match="padding bits"):
        beats_of(bytes([0x10]), 4, True, 1, "m_axis_c")
    with pytest.raises(AxisProtocolError, match="whole 2-byte beats"):
        beats_of(bytes([1, 2, 3]), 12, True, 2, "m_axis_c")


# ---------------------------------------------------------------------------------------------
# Parameters, names, manifest, lint


def test_interface_parameters_keep_native_names_and_reject_bad_values(capsys):
    design = get_design("systolic")
    native = design.params(rows=2, cols=2)
    # Fields at their neutral values (the interface's, and options added later) stay out of the digest.
    neutral = {"interface": "native", "axis_reset": "aresetn", **native.digest_neutral}
    values = {k: v for k, v in native.to_dict().items() if not (k in neutral and neutral[k] == v)}
    assert set(native.to_dict()) - set(values) == set(neutral)
    assert native.digest() == hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:10]
    assert design.params(rows=2, cols=2, interface="axis").digest() != native.digest()
    with pytest.raises(ValueError, match="interface='axi'.*'native', 'axis'"):
        design.params(interface="axi")
    with pytest.raises(ValueError, match="axis_reset='areset' applies only to interface='axis'"):
        design.params(axis_reset="areset")
    assert main(["generate", "systolic", "-p", "interface=axi4"]) == 2
    assert "interface='axi4'" in capsys.readouterr().err


def test_manifest_of_the_axis_interface(tmp_path):
    design = get_design("softmax")
    manifest = write_design(design, design.params(interface="axis", axis_reset="areset"), tmp_path)
    names = {port["name"] for port in manifest["ports"]}
    assert {"aclk", "areset", "s_axis_x_tdata", "s_axis_x_tlast", "m_axis_y_tdata", "m_axis_y_tlast"} <= names
    assert not names & {"clk", "rst", "x__payload"}
    assert manifest["interface"] == "axis" and manifest["reset"].startswith("areset (synchronous, active high)")
    x = manifest["axis"]["x"]
    assert x["tdata_bits"] == manifest["streams"]["x"]["width"] - 1 and x["tdata_width"] % 8 == 0
    text = (tmp_path / manifest["verilog"]).read_text()
    assert f"module {manifest['module']}(" in text and "s_axis_x_tdata" in text


@pytest.mark.parametrize("name", ["systolic", "softmax", "pim_ctrl", "gemm"])
def test_axis_interface_lints_clean(name):
    design = get_design(name)
    assert lint_design(design, design.params(interface="axis")) == []


# ---------------------------------------------------------------------------------------------
# Every family's regression through the wrapper, driven by cocotbext-axi

#: One design per host model (family) in its small configuration; cube3d also covers areset.
AXIS_CONFIGS = one_per_host() | {"cube3d": dict(axis_reset="areset")}


def test_every_family_has_an_axis_regression():
    hosts = {plan_for(name).host.__name__ for name in all_designs()}
    assert hosts == {plan_for(name).host.__name__ for name in AXIS_CONFIGS}


@pytest.mark.cocotb
@pytest.mark.parametrize("name", list(AXIS_CONFIGS))
def test_axis_regression(name, seed):
    design = get_design(name)
    params = design.params(interface="axis", **AXIS_CONFIGS[name])
    verdict = flow.verify(design, params, seed=seed)
    assert verdict.passed, "\n".join(verdict.problems)
    assert any(job["stall"] > 0 for job in verdict.jobs) and any(job["backpressure"] > 0 for job in verdict.jobs)
    log = (verdict.simulation.workdir / "sim.log").read_text()
    assert "AxiStreamSource" in log or "AXI stream source" in log
