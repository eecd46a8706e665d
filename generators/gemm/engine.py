"""The tiled GEMM engine's top: job control, buffers, the array, feeders and collector,
connected by streams (see :mod:`accelgen.generators.gemm`)."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In

from ...hdl.layouts import TileStreamSignature
from ...hdl.tile_io import engine_outputs
from .. import DesignComponent, register
from ..cube3d import Cube3DEngine
from ..matrix2d import Matrix2DEngine
from ..systolic import SystolicArray
from ..systolic_ws import SystolicWSArray
from ..tree import TreeEngine
from .buffers import ABuffer, BBuffer, JobControl, RowBlockABuffer, descriptor_layout
from .collectors import PartialSumCollector, TileCollector
from .feeders import ActivationFeeder, TileFeeder, WeightFeeder
from .params import GemmParams

__all__ = ["GemmEngine", "ARRAYS"]

#: The array component of every engine.
ARRAYS = {"os": SystolicArray, "ws": SystolicWSArray, "tree": TreeEngine, "matrix2d": Matrix2DEngine,
          "cube3d": Cube3DEngine}


@register(
    "gemm",
    params=GemmParams,
    summary="tiled GEMM engine: A/B/C buffers, tile scheduler for any M, N, K, around an OS or WS array",
)
class GemmEngine(DesignComponent):
    """Tiled GEMM engine with descriptor, operand and result streams.

    Its parameters: :class:`GemmParams`.

    Members
    -------
    desc : In(stream.Signature(StructLayout({"m": ..., "n": ..., "k": ...})))
        One beat per job; ready while no job is running.
    a : In(TileStreamSignature(a_shape, rows * depth, last=False))
        A words in the engine's order (see the module documentation).
    b : In(TileStreamSignature(b_shape, depth * cols, last=False))
        B words (``depth`` rows of a column block each), column block by column block.
    c : Out(TileStreamSignature(acc_shape, cols))
        C rows, column block by column block; ``last`` on the job's final beat.
    cycle_count : Out(counter_width)
        Cycles spent on jobs since reset.
    mac_count : Out(counter_width)
        The array's multiply-accumulates since reset.
    """

    params_class = GemmParams

    def members(self):
        p = self.params
        return {
            "desc": In(stream.Signature(descriptor_layout(p))),
            "a": In(TileStreamSignature(p.a_shape, p.rows * p.depth, last=False)),
            "b": In(TileStreamSignature(p.b_shape, p.depth * p.cols, last=False)),
            **engine_outputs(p.acc_shape, p.cols, p.counter_width),
        }

    def manifest(self) -> dict:
        """Facts for the per-configuration manifest."""
        p = self.params
        return {
            "engine": p.engine,
            "acc_width": p.acc_width,
            "acc_signed": p.acc_signed,
            "buffers": {"a_words": p.a_buffer_words, "b_words": p.b_buffer_words, "c_words": p.c_buffer_words},
        }

    def elaborate(self, platform):
        p = self.params
        ws = p.engine == "ws"
        m = Module()
        control = m.submodules.job = JobControl(p)
        wiring.connect(m, wiring.flipped(self.desc), control.desc)
        array = m.submodules.array = ARRAYS[p.engine](p.array_params())
        word_shape = WeightFeeder.word_shape(p) if ws else range(p.k_beats_max + 1)
        a_signature = self.signature.members["a"].signature.flip()
        row_block = p.a_reuse == "row_block"
        a_buffer = m.submodules.a_buffer = (RowBlockABuffer(p, a_signature, word_shape) if row_block else
                                            ABuffer(p, a_signature))
        b_buffer = m.submodules.b_buffer = BBuffer(p, self.signature.members["b"].signature.flip(), word_shape)
        wiring.connect(m, wiring.flipped(self.a), a_buffer.a)
        wiring.connect(m, wiring.flipped(self.b), b_buffer.b)

        if ws:
            weights = m.submodules.weight_feeder = WeightFeeder(p, array, b_buffer)
            activations = m.submodules.activation_feeder = ActivationFeeder(p, array, a_buffer)
            collector = m.submodules.collector = PartialSumCollector(p, array, self.signature.members["c"].signature)
            feeders = [weights, activations]
            wiring.connect(m, weights.w, array.w)
            wiring.connect(m, activations.a, array.a)
            a_reader, b_reader = activations, weights
        else:
            feeder = m.submodules.feeder = TileFeeder(p, array, a_buffer, b_buffer)
            collector = m.submodules.collector = TileCollector(p, array, self.signature.members["c"].signature)
            feeders = [feeder]
            wiring.connect(m, feeder.a, array.a)
            wiring.connect(m, feeder.b, array.b)
            a_reader = b_reader = feeder
        wiring.connect(m, control.job, a_buffer.job, b_buffer.job, *[f.job for f in feeders], collector.job)
        wiring.connect(m, a_reader.a_read, a_buffer.read)
        wiring.connect(m, b_reader.b_read, b_buffer.read)
        m.d.comb += [
            a_reader.a_words.eq(a_buffer.ready_words if row_block else a_buffer.words),
            b_reader.b_ready_words.eq(b_buffer.ready_words),
            b_buffer.release.eq(b_reader.b_release),
        ]
        if row_block:
            m.d.comb += a_buffer.release.eq(a_reader.a_release)
        wiring.connect(m, array.c, collector.rows)
        wiring.connect(m, collector.c, wiring.flipped(self.c))
        m.d.comb += [control.done.eq(collector.job_done), self.mac_count.eq(array.mac_count)]
        m.d.sync += self.cycle_count.eq(self.cycle_count + (control.job.active | control.job.start))
        return m
