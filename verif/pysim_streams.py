"""Driving a component's valid/ready streams in the Amaranth simulator (fast unit tests).

The cocotb testbenches (:mod:`accelgen.verif.streams`) check the Verilog; this drives the
Amaranth model directly, with the same random source stalls and sink backpressure, so unit
tests can run without a Verilator build.
"""

from amaranth.sim import Simulator

from .packing import pack_beats, stream_layouts, unpack_beats

__all__ = ["run_streams", "run_tile_beats"]


def run_streams(dut, words: dict, *, expect: int, rng, stall: float, backpressure: float, output: str = "c",
                together: tuple = (), settle_cycles: int = 1, max_cycles: int = 20000,
                counters: tuple = ("cycle_count", "mac_count")) -> tuple[list[int], dict]:
    """Feed ``words[name]`` (payload words, in order) into the input streams of ``dut`` and
    collect ``expect`` payload words from its ``output`` stream.

    Every cycle each input with words left is valid with probability ``1 - stall`` and the
    output is ready with probability ``1 - backpressure`` (``rng``: a numpy Generator or a
    :class:`random.Random`). The inputs named in ``together`` must transfer in the same
    cycles. ``settle_cycles`` after the last output word, the ``counters`` signals of ``dut``
    are read. Returns ``(received words, {counter name: value})``.
    """
    ports = {name: getattr(dut, name) for name in words}
    sink = getattr(dut, output)
    received, values = [], {}

    async def testbench(ctx):
        index = dict.fromkeys(words, 0)
        cycles = 0
        while len(received) < expect:
            for name, port in ports.items():
                ctx.set(port.valid, index[name] < len(words[name]) and rng.random() >= stall)
                if index[name] < len(words[name]):
                    ctx.set(port.payload.as_value(), words[name][index[name]])
            ctx.set(sink.ready, rng.random() >= backpressure)
            _, _, *fired, out_go, out_word = await ctx.tick().sample(
                *[port.valid & port.ready for port in ports.values()], sink.valid & sink.ready,
                sink.payload.as_value())
            fired = dict(zip(ports, fired))
            if len({fired[name] for name in together}) > 1:
                raise AssertionError(f"streams {', '.join(together)} did not transfer together: {fired}")
            for name, go in fired.items():
                index[name] += go
            if out_go:
                received.append(out_word)
            cycles += 1
            if cycles >= max_cycles:
                raise AssertionError(f"stuck after {cycles} cycles: inputs at {index}, {len(received)}/{expect} "
                                     f"words on {output}")
        await ctx.tick().repeat(settle_cycles)
        for name in counters:
            values[name] = ctx.get(getattr(dut, name))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(testbench)
    sim.run()
    return received, values


def run_tile_beats(dut, beats: dict, *, rng, stall: float, backpressure: float):
    """Stream a tile engine's beats (``a_beats``, ``b_beats``, ``last``) through ``dut`` (A and
    B together) and take its ``rows`` result rows per tile from ``c``.

    Returns ``(rows, last flags, {"cycles": cycle_count, "macs": mac_count})``.
    """
    layouts = stream_layouts(dut)
    words = {"a": pack_beats(layouts["a"], data=beats["a_beats"], last=beats["last"]),
             "b": pack_beats(layouts["b"], data=beats["b_beats"])}
    received, values = run_streams(dut, words, expect=int(sum(beats["last"])) * dut.params.rows, rng=rng,
                                   stall=stall, backpressure=backpressure, together=("a", "b"))
    rows = unpack_beats(layouts["c"], received)
    return rows["data"], rows["last"], {"cycles": values["cycle_count"], "macs": values["mac_count"]}
