"""The online-softmax unit of the fused attention engine.

Once the ``Q K^T`` scores of a tile are in a bank of the array, the unit runs one fixed
schedule over it (all ``br`` columns in parallel, ``lanes`` key rows per cycle):

1. **max pass** (``bc / lanes`` reads): the tile maximum ``t`` of every column over the
   unmasked keys, then ``m_new = max(m, t)``;
2. **P pass** (``bc / lanes`` reads, overlapping step 3): ``P = min(exp(-(m_new - s) S), 2**p - 1)``
   for unmasked keys, 0 for masked ones, written back into the bank in place; ``sum P`` per
   column;
3. **alpha pass** (one column per cycle, one exp unit): ``alpha = exp(-(m_new - m) S)`` (0 at
   a block's first tile, whose ``l`` and ``O`` then start from zero), ``l <- round(l * alpha)``;
4. **merge**: ``l <- l + (sum P << G)``, ``m <- m_new``;
5. at a block's last tile only, **reciprocal pass** (one column per cycle):
   ``sh = max(0, bitlen(l) - N_L)``, ``r = round_half_up(2**K / (l >> sh))``.

``alpha`` is double-buffered by tile parity (the row units use tile ``g``'s while the unit
computes tile ``g+1``'s), ``r`` and ``sh`` by block parity. :meth:`SoftmaxUnit.duration`
gives the schedule's length, which the engine's cycle model uses.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .attention_array import bank_port
from .exp_tables import ExpSpec
from .exp_unit import ExpUnit, exp_latency
from .fixedpoint import round_shift_expr
from .reciprocal import PipelinedReciprocal
from .util import equals, select

__all__ = ["tile_layout", "job_layout", "SoftmaxSchedule", "SoftmaxUnit"]


def tile_layout(n_bits: int) -> data.StructLayout:
    """What the unit needs of a tile: its ``bank``, whether it is the ``first`` / ``last`` of its
    query block, the parities of the tile and the block, and the first key ``kb`` and first
    query ``qb``."""
    return data.StructLayout({"bank": 1, "first": 1, "last": 1, "tpar": 1, "bpar": 1,
                              "kb": unsigned(n_bits + 1), "qb": unsigned(n_bits + 1)})


def job_layout(n_bits: int) -> data.StructLayout:
    """The running job's shape as the unit sees it: ``nq``, ``nkv``, ``causal``."""
    return data.StructLayout({"nq": unsigned(n_bits), "nkv": unsigned(n_bits), "causal": 1})


class SoftmaxSchedule:
    """The unit's fixed schedule, in cycles after its start (step 0 is the first bank read).

    Parameters
    ----------
    rows, cols, lanes : int
        ``bc``, ``br`` and the rows read per cycle.
    p_latency, alpha_latency, recip_latency : int
        Latencies of the probability exp, the rescale exp and the reciprocal.
    """

    def __init__(self, rows, cols, lanes, p_latency, alpha_latency, recip_latency):
        self.steps = rows // lanes
        self.cols = cols
        self.p0 = self.steps + 2            # first P-pass read (m_new registered)
        self.p_write0 = self.p0 + 1 + p_latency
        self.a0 = self.steps + 2            # first alpha-pass column
        self.a_out0 = self.a0 + 1 + alpha_latency
        self.merge = max(self.p_write0 + self.steps, self.a_out0 + cols + 1)
        self.r0 = self.merge + 1
        self.r_out0 = self.r0 + recip_latency

    def end(self, last: bool) -> int:
        """The step at which the unit signals ``done`` (and is free again one cycle later)."""
        return self.r_out0 + self.cols if last else self.merge


class SoftmaxUnit(wiring.Component):
    """Online softmax over one tile of scores per run (see the module documentation).

    Parameters
    ----------
    rows, cols, lanes : int
        ``bc``, ``br`` and the rows read per cycle (a power of two dividing ``rows``).
    score_width : int
        Signed width of a score.
    n_bits : int
        Width of ``nq`` / ``nkv``.
    p_spec, alpha_spec : ExpSpec
        The probability and rescale exps.
    p_bits, alpha_frac, o_guard : int
        ``p``, ``A`` and ``G`` of the algorithm.
    l_width, norm_width, recip_shift, recip_den_min : int
        ``W_L``, ``N_L``, ``K`` and the smallest non-zero reciprocal input.

    Members
    -------
    start : In(1)
        Run over ``tile`` (taken only while ``busy`` is low).
    tile : In(tile_layout)
    job : In(job_layout)
    busy : Out(1)
    done : Out(1)
        One-cycle strobe: the tile's probabilities, ``alpha`` (and at a block's last tile ``r``
        and ``sh``) are ready.
    alpha : Out(ArrayLayout(ArrayLayout(unsigned(A + 1), cols), 2))
        ``alpha`` of every column, by tile parity.
    recip, shift : Out(ArrayLayout(ArrayLayout(...), 2))
        ``r`` and ``sh`` of every column, by block parity.
    sm : Out(bank_port)
        Access to the array's score banks.
    """

    def __init__(self, *, rows, cols, lanes, score_width, n_bits, p_spec: ExpSpec, alpha_spec: ExpSpec, p_bits,
                 alpha_frac, o_guard, l_width, norm_width, recip_shift, recip_den_min):
        self.rows, self.cols, self.lanes = rows, cols, lanes
        self.score_shape = signed(score_width)
        self.n_bits = n_bits
        self.p_spec, self.alpha_spec = p_spec, alpha_spec
        self.p_bits, self.alpha_frac, self.o_guard = p_bits, alpha_frac, o_guard
        self.l_width, self.norm_width = l_width, norm_width
        self._reciprocal = PipelinedReciprocal(den_width=norm_width, shift=recip_shift, den_min=recip_den_min)
        self.shift_width = max(1, max(0, l_width - norm_width).bit_length())
        self.schedule = SoftmaxSchedule(rows, cols, lanes, exp_latency(p_spec), exp_latency(alpha_spec),
                                        self._reciprocal.latency)
        super().__init__({
            "start": In(1), "tile": In(tile_layout(n_bits)), "job": In(job_layout(n_bits)),
            "busy": Out(1), "done": Out(1),
            "alpha": Out(data.ArrayLayout(data.ArrayLayout(unsigned(alpha_frac + 1), cols), 2)),
            "recip": Out(data.ArrayLayout(data.ArrayLayout(unsigned(self._reciprocal.recip_width), cols), 2)),
            "shift": Out(data.ArrayLayout(data.ArrayLayout(unsigned(self.shift_width), cols), 2)),
            "sm": Out(bank_port(rows, cols, lanes, self.score_shape, p_bits)),
        })

    def elaborate(self, platform):
        m = Module()
        sch = self.schedule
        step = Signal(range(sch.end(True) + 2))
        tile = Signal.like(self.tile)
        with m.If(self.start & ~self.busy):
            m.d.sync += [self.busy.eq(1), step.eq(0), tile.eq(self.tile)]
        with m.Elif(self.busy):
            m.d.sync += step.eq(step + 1)
            with m.If(step == Mux(tile.last, sch.end(True), sch.end(False))):
                m.d.sync += self.busy.eq(0)
        m.d.comb += self.done.eq(self.busy & (step == Mux(tile.last, sch.end(True), sch.end(False))))
        run = Signal()
        m.d.comb += run.eq(self.busy)
        limits = self._limits(m, tile)
        state = self._max_pass(m, step, run, tile, limits)
        self._p_pass(m, step, run, tile, limits, state)
        self._alpha_pass(m, step, run, tile, state)
        self._reciprocal_pass(m, step, run, tile, state)
        return m

    def _limits(self, m, tile):
        # rel[p] = last visible key of query qb + p, relative to the tile's first key (-1: none).
        width = self.n_bits + 3
        rel = [Signal(signed(width), name=f"rel_lim_{p}") for p in range(self.cols)]
        job = self.job
        with m.If(self.start & ~self.busy):
            for p, r in enumerate(rel):
                query = self.tile.qb + p
                last_key = Mux(job.causal, query + job.nkv - job.nq, job.nkv - 1)
                m.d.sync += r.eq(Mux(query < job.nq, last_key - self.tile.kb, -1))
        return rel

    def _visible(self, row, limit):
        return row <= limit

    def _max_pass(self, m, step, run, tile, limits):
        lanes, cols, sch = self.lanes, self.cols, self.schedule
        sm = self.sm
        reading_max = run & (step < sch.steps)
        reading_p = run & (step >= sch.p0) & (step < sch.p0 + sch.steps)
        m.d.comb += [sm.rd_bank.eq(tile.bank), sm.rd_row.eq(Mux(reading_p, step - sch.p0, step))]
        held = Signal(data.ArrayLayout(data.ArrayLayout(self.score_shape, cols), lanes))
        held_ok = [[Signal(name=f"mx_ok_{lane}_{c}") for c in range(cols)] for lane in range(lanes)]
        held_valid = Signal()
        m.d.sync += [held.eq(sm.rd_data), held_valid.eq(reading_max)]
        row0 = step * lanes
        for lane in range(lanes):
            for c in range(cols):
                m.d.sync += held_ok[lane][c].eq(self._visible(row0 + lane, limits[c]))
        t = [Signal(self.score_shape, name=f"tile_max_{c}") for c in range(cols)]
        t_ok = [Signal(name=f"tile_max_ok_{c}") for c in range(cols)]
        old = [Signal(self.score_shape, name=f"run_max_{c}") for c in range(cols)]
        old_ok = [Signal(name=f"run_max_ok_{c}") for c in range(cols)]
        new = [Signal(self.score_shape, name=f"new_max_{c}") for c in range(cols)]
        new_from_old = [Signal(name=f"old_ok_{c}") for c in range(cols)]
        for c in range(cols):
            best, best_ok = held[0][c], held_ok[0][c]
            for lane in range(1, lanes):
                take = held_ok[lane][c] & (~best_ok | (held[lane][c] > best))
                best, best_ok = Mux(take, held[lane][c], best), best_ok | held_ok[lane][c]
            with m.If(run & ~step.any()):
                m.d.sync += t_ok[c].eq(0)
            with m.Elif(held_valid & best_ok):
                m.d.sync += [t[c].eq(Mux(t_ok[c] & (t[c] > best), t[c], best)), t_ok[c].eq(1)]
            # m_new once t is final; the running max counts only from the block's first tile.
            with m.If(run & (step == sch.steps + 1)):
                was = old_ok[c] & ~tile.first
                m.d.sync += [
                    new_from_old[c].eq(was),
                    new[c].eq(Mux(t_ok[c], Mux(was & (old[c] > t[c]), old[c], t[c]), old[c])),
                ]
            with m.If(run & (step == sch.merge)):
                m.d.sync += [old[c].eq(new[c]), old_ok[c].eq(new_from_old[c] | t_ok[c])]
        return {"new": new, "old": old, "was": new_from_old}

    def _p_pass(self, m, step, run, tile, limits, state):
        lanes, cols, sch, spec = self.lanes, self.cols, self.schedule, self.p_spec
        sm = self.sm
        cap = (1 << spec.width) - 1
        p_max = (1 << self.p_bits) - 1
        sums = [Signal(range(self.rows * p_max + 1), name=f"p_sum_{c}") for c in range(cols)]
        write_row = step - sch.p_write0
        writing = run & (step >= sch.p_write0) & (step < sch.p_write0 + sch.steps)
        m.d.comb += [sm.wr_en.eq(writing), sm.wr_bank.eq(tile.bank), sm.wr_row.eq(write_row)]
        for c in range(cols):
            lane_sum = 0
            for lane in range(lanes):
                unit = ExpUnit(spec)
                m.submodules[f"p_exp_{lane}_{c}"] = unit
                d = Signal(signed(self.score_shape.width + 2), name=f"p_dist_{lane}_{c}")
                m.d.comb += d.eq(state["new"][c] - sm.rd_data[lane][c])
                m.d.sync += unit.d.eq(Mux(d < 0, 0, Mux(d > cap, cap, d)))
                visible = self._visible(write_row * lanes + lane, limits[c])
                prob = Mux(visible, Mux(unit.e > p_max, p_max, unit.e), 0)
                m.d.comb += sm.wr_data[lane][c].eq(prob)
                lane_sum = lane_sum + prob
            with m.If(run & ~step.any()):
                m.d.sync += sums[c].eq(0)
            with m.Elif(writing):
                m.d.sync += sums[c].eq(sums[c] + lane_sum)
        state["p_sums"] = sums

    def _alpha_pass(self, m, step, run, tile, state):
        cols, sch, spec = self.cols, self.schedule, self.alpha_spec
        cap = (1 << spec.width) - 1
        unit = m.submodules.alpha_exp = ExpUnit(spec)
        col_in = step - sch.a0
        d = Signal(signed(self.score_shape.width + 2))
        m.d.comb += d.eq(select(state["new"], col_in) - select(state["old"], col_in))
        m.d.sync += unit.d.eq(Mux(d < 0, 0, Mux(d > cap, cap, d)))
        col_out = Signal(range(cols + 1))
        m.d.comb += col_out.eq(step - sch.a_out0)
        emitting = run & (step >= sch.a_out0) & (step < sch.a_out0 + cols)
        alpha = Signal(unsigned(self.alpha_frac + 1))
        m.d.comb += alpha.eq(Mux(select(state["was"], col_out), unit.e, 0))
        state["l"] = l_regs = [Signal(self.l_width, name=f"l_{c}") for c in range(cols)]
        product = Signal(self.l_width + self.alpha_frac + 1)
        product_col = Signal(range(cols + 1))
        product_valid = Signal()
        m.d.sync += [product.eq(select(l_regs, col_out) * alpha), product_col.eq(col_out),
                     product_valid.eq(emitting)]
        for par in range(2):
            for c in range(cols):
                with m.If(emitting & (tile.tpar == par) & equals(col_out, c)):
                    m.d.sync += self.alpha[par][c].eq(alpha)
        scaled = round_shift_expr(product, self.alpha_frac, "half_up")
        for c in range(cols):
            with m.If(run & product_valid & equals(product_col, c)):
                m.d.sync += l_regs[c].eq(scaled)
            with m.If(run & (step == sch.merge)):
                m.d.sync += l_regs[c].eq(l_regs[c] + (state["p_sums"][c] << self.o_guard))

    def _reciprocal_pass(self, m, step, run, tile, state):
        cols, sch = self.cols, self.schedule
        recip = m.submodules.recip = self._reciprocal
        l_regs = state["l"]

        def shift_of(value):
            sh = Signal(self.shift_width)
            for bit in range(self.norm_width, self.l_width):
                with m.If(value[bit]):
                    m.d.comb += sh.eq(bit - self.norm_width + 1)
            return sh

        col_in = step - sch.r0
        l_in = select(l_regs, col_in)
        m.d.comb += [recip.s.eq(l_in >> shift_of(l_in)),
                     recip.s_valid.eq(run & tile.last & (step >= sch.r0) & (step < sch.r0 + cols))]
        col_out = Signal(range(cols + 1))
        m.d.comb += col_out.eq(step - sch.r_out0)
        out_shift = shift_of(select(l_regs, col_out))
        emitting = run & tile.last & (step >= sch.r_out0) & (step < sch.r_out0 + cols)
        for par in range(2):
            for c in range(cols):
                with m.If(emitting & (tile.bpar == par) & equals(col_out, c)):
                    m.d.sync += [self.recip[par][c].eq(recip.recip), self.shift[par][c].eq(out_shift)]
