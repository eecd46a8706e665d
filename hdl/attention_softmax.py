"""The online-softmax unit of the fused attention engine.

Once the ``Q K^T`` scores of a tile are in a bank of the array, the unit runs one fixed
schedule over it (all ``br`` columns in parallel, ``lanes`` key rows per cycle):

1. **max pass** (``bc / lanes`` reads): the tile maximum ``t`` of every column over the
   unmasked keys, then ``m_new = max(m, t)``;
2. **P pass** (``bc / lanes`` reads, overlapping step 3): ``P_hi = min(exp(-(m_new - s) S),
   2**(p+X) - 1)`` for unmasked keys, 0 for masked ones; ``P = P_hi`` rounded to ``p`` bits,
   written back into the bank in place; ``sum P_hi`` per column;
3. **alpha pass** (one column per cycle, one exp unit): ``alpha = exp(-(m_new - m) S)`` (0 at
   a block's first tile, whose ``l`` and ``O`` then start from zero), ``l <- round(l * alpha)``;
4. **merge**: ``l <- l + (sum P_hi << G)``, ``m <- m_new``;
5. at a block's last tile only, **reciprocal pass** (one column per cycle):
   ``sh = max(0, bitlen(l) - N_L)``, ``r = round_half_up(2**K / (l >> sh))``.

``alpha`` is double-buffered by tile parity (the row units use tile ``g``'s while the unit
computes tile ``g+1``'s), ``r`` and ``sh`` by block parity. :meth:`SoftmaxUnit.duration`
gives the schedule's length, which the engine's cycle model uses.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .attention_array import bank_port
from .delay import DelayLine
from .exp_tables import ExpSpec
from .exp_unit import ExpUnit, exp_latency
from .arith import split_product
from .fixedpoint import round_shift_expr
from .reciprocal import PipelinedReciprocal
from .util import equals, select

__all__ = ["tile_layout", "job_layout", "SoftmaxSchedule", "SoftmaxUnit", "PIPELINED_EXP"]

#: The unit's exps are the pipelined variant (two more cycles; no multiplier-and-adder path).
PIPELINED_EXP = True


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

    Every pass reads its operands from registers (row and column counters, registered bank
    data), so no path mixes a counter, a multiplexer and an arithmetic unit.

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
        self.read0 = 1                      # step 0 registers the tile's key limits
        self.p0 = self.steps + 3            # first P-pass read (m_new registered)
        self.p_write0 = self.p0 + 2 + p_latency   # read, distance register, exp
        self.a0 = self.steps + 3            # first alpha-pass column selected
        self.a_out0 = self.a0 + 2 + alpha_latency  # selection, distance register, exp
        self.merge = max(self.p_write0 + self.steps, self.a_out0 + cols + 3)
        self.r0 = self.merge + 1            # first l selected for the reciprocal
        self.r_out0 = self.r0 + 2 + recip_latency  # selection, shift, reciprocal

    @classmethod
    def for_specs(cls, rows, cols, lanes, p_spec: ExpSpec, alpha_spec: ExpSpec, recip_latency: int):
        """The schedule of a unit with these exps (pipelined exp units)."""
        return cls(rows, cols, lanes, exp_latency(p_spec, PIPELINED_EXP), exp_latency(alpha_spec, PIPELINED_EXP), recip_latency)

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
    p_bits, alpha_frac, o_guard, l_extra_bits : int
        ``p``, ``A``, ``G`` and ``X`` of the algorithm.
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
                 alpha_frac, o_guard, l_width, norm_width, recip_shift, recip_den_min, l_extra_bits=0):
        self.rows, self.cols, self.lanes = rows, cols, lanes
        self.score_shape = signed(score_width)
        self.n_bits = n_bits
        self.p_spec, self.alpha_spec = p_spec, alpha_spec
        self.p_bits, self.alpha_frac, self.o_guard = p_bits, alpha_frac, o_guard
        self.l_extra_bits = l_extra_bits
        self.l_width, self.norm_width = l_width, norm_width
        self._reciprocal = PipelinedReciprocal(den_width=norm_width, shift=recip_shift, den_min=recip_den_min)
        self.shift_width = max(1, max(0, l_width - norm_width).bit_length())
        self.schedule = SoftmaxSchedule.for_specs(rows, cols, lanes, p_spec, alpha_spec, self._reciprocal.latency)
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
        end = Mux(tile.last, sch.end(True), sch.end(False))
        with m.If(self.start & ~self.busy):
            m.d.sync += [self.busy.eq(1), step.eq(0), tile.eq(self.tile)]
        with m.Elif(self.busy):
            m.d.sync += step.eq(step + 1)
            with m.If(step == end):
                m.d.sync += self.busy.eq(0)
        m.d.comb += self.done.eq(self.busy & (step == end))

        def at(first, count=1):
            """High during steps ``first .. first + count - 1`` of a run."""
            if count == 1:
                return self.busy & (step == first) if first else self.busy & ~step.any()
            return self.busy & (step >= first) & (step < first + count) if first else self.busy & (step < count)

        def counter(name, first, limit):
            """0 at step ``first``, then counting up by one per cycle (saturating at ``limit``)."""
            value = Signal(range(limit + 1), name=name)
            with m.If(at(first - 1)):
                m.d.sync += value.eq(0)
            with m.Elif(value < limit):
                m.d.sync += value.eq(value + 1)
            return value

        state = {"at": at, "counter": counter, "step": step, "tile": tile}
        self._max_pass(m, state, self._limits(m, state))
        self._p_pass(m, state)
        self._alpha_pass(m, state)
        self._reciprocal_pass(m, state)
        return m

    def _limits(self, m, state):
        # rel[p]: last visible key of query qb + p relative to the tile's first key (-1: none).
        # At the start three per-tile terms are registered; step 0 forms rel[p] from them.
        width = self.n_bits + 3
        job, tile = self.job, self.tile
        causal_base = Signal(signed(width))   # qb + nkv - nq - kb
        plain_base = Signal(signed(width))    # nkv - 1 - kb
        rows_left = Signal(signed(width))     # nq - qb
        with m.If(self.start & ~self.busy):
            m.d.sync += [causal_base.eq((tile.qb + job.nkv) - (job.nq + tile.kb)),
                         plain_base.eq(job.nkv - (tile.kb + 1)), rows_left.eq(job.nq - tile.qb)]
        rel = [Signal(signed(width), name=f"rel_lim_{p}") for p in range(self.cols)]
        with m.If(state["at"](0)):
            for p, r in enumerate(rel):
                limit = Mux(self.job.causal, causal_base + p, plain_base)
                m.d.sync += r.eq(Mux(rows_left > p, limit, -1))
        return rel

    def _max_pass(self, m, state, rel):
        """Steps ``read0 ..``: the tile maximum ``t`` of every column; then ``m_new``."""
        lanes, cols, sch, sm = self.lanes, self.cols, self.schedule, self.sm
        at, tile = state["at"], state["tile"]
        row = Signal(range(max(sch.steps, 2)))   # the row group read this cycle
        with m.If(at(sch.read0 - 1) | at(sch.p0 - 1)):
            m.d.sync += row.eq(0)
        with m.Else():
            m.d.sync += row.eq(row + 1)
        m.d.comb += [sm.rd_bank.eq(tile.bank), sm.rd_row.eq(row)]
        held = Signal(data.ArrayLayout(data.ArrayLayout(self.score_shape, cols), lanes))
        held_ok = [[Signal(name=f"held_ok_{lane}_{c}") for c in range(cols)] for lane in range(lanes)]
        held_row = Signal.like(row)
        m.d.sync += [held.eq(sm.rd_data), held_row.eq(row)]
        for lane in range(lanes):
            for c in range(cols):
                m.d.sync += held_ok[lane][c].eq(row * lanes + lane <= rel[c])
        t = [Signal(self.score_shape, name=f"tile_max_{c}") for c in range(cols)]
        t_ok = [Signal(name=f"tile_max_ok_{c}") for c in range(cols)]
        old = [Signal(self.score_shape, name=f"run_max_{c}") for c in range(cols)]
        old_ok = [Signal(name=f"run_max_ok_{c}") for c in range(cols)]
        new = [Signal(self.score_shape, name=f"new_max_{c}") for c in range(cols)]
        was = [Signal(name=f"had_max_{c}") for c in range(cols)]
        combining = at(sch.read0 + 1, sch.steps)
        for c in range(cols):
            best, best_ok = held[0][c], held_ok[0][c]
            for lane in range(1, lanes):
                take = held_ok[lane][c] & (~best_ok | (held[lane][c] > best))
                best, best_ok = Mux(take, held[lane][c], best), best_ok | held_ok[lane][c]
            with m.If(at(0)):
                m.d.sync += t_ok[c].eq(0)
            with m.Elif(combining & best_ok):
                m.d.sync += [t[c].eq(Mux(t_ok[c] & (t[c] > best), t[c], best)), t_ok[c].eq(1)]
            # m_new once t is final; the running max counts only from the block's first tile.
            with m.If(at(sch.read0 + sch.steps + 1)):
                had = old_ok[c] & ~tile.first
                m.d.sync += [was[c].eq(had), new[c].eq(Mux(t_ok[c], Mux(had & (old[c] > t[c]), old[c], t[c]), old[c]))]
            with m.If(at(sch.merge)):
                m.d.sync += [old[c].eq(new[c]), old_ok[c].eq(was[c] | t_ok[c])]
        state.update(new=new, old=old, was=was, held=held, held_ok=held_ok, held_row=held_row)

    def _clamped(self, m, value, width, name):
        """``min(max(value, 0), 2**width - 1)`` from the sign bit and the bits above ``width``."""
        out = Signal(width, name=name)
        top = value.shape().width - 1
        high = value[width:top].any() if top > width else 0
        m.d.comb += out.eq(Mux(value[top], 0, Mux(high, (1 << width) - 1, value[:width])))
        return out

    def _p_pass(self, m, state):
        """P_hi = exp(m_new - s) at p + X fraction bits, masked and saturated; P = P_hi rounded to
        p bits, written back; sum P_hi per column (for l)."""
        lanes, cols, sch, spec, sm = self.lanes, self.cols, self.schedule, self.p_spec, self.sm
        at, held, held_ok = state["at"], state["held"], state["held_ok"]
        p_max, extra = (1 << self.p_bits) - 1, self.l_extra_bits
        p_hi_max = (1 << (self.p_bits + extra)) - 1
        latency = 1 + exp_latency(spec, PIPELINED_EXP)
        # The row and the visibility of each read travel alongside the exp units.
        m.submodules.p_row_delay = row_delay = DelayLine(state["held_row"].shape(), latency)
        m.submodules.p_ok_delay = ok_delay = DelayLine(lanes * cols, latency)
        m.d.comb += [row_delay.i.eq(state["held_row"]),
                     ok_delay.i.eq(Cat(*[held_ok[lane][c] for lane in range(lanes) for c in range(cols)]))]
        writing = at(sch.p_write0, sch.steps)
        m.d.comb += [sm.wr_en.eq(writing), sm.wr_bank.eq(state["tile"].bank), sm.wr_row.eq(row_delay.o)]
        sums = [Signal(range(self.rows * p_hi_max + 1), name=f"p_sum_{c}") for c in range(cols)]
        for c in range(cols):
            lane_sum = 0
            for lane in range(lanes):
                unit = ExpUnit(spec, pipelined=PIPELINED_EXP)
                m.submodules[f"p_exp_{lane}_{c}"] = unit
                distance = Signal(signed(self.score_shape.width + 2), name=f"p_dist_{lane}_{c}")
                m.d.comb += distance.eq(state["new"][c] - held[lane][c])
                m.d.sync += unit.d.eq(self._clamped(m, distance, spec.width, f"p_dist_clamped_{lane}_{c}"))
                fine = Signal(range(p_hi_max + 1), name=f"p_fine_{lane}_{c}")
                m.d.comb += fine.eq(Mux(ok_delay.o[lane * cols + c], Mux(unit.e > p_hi_max, p_hi_max, unit.e), 0))
                if extra:
                    rounded = round_shift_expr(fine, extra, "half_up")
                    m.d.comb += sm.wr_data[lane][c].eq(Mux(rounded > p_max, p_max, rounded))
                else:
                    m.d.comb += sm.wr_data[lane][c].eq(fine)
                lane_sum = lane_sum + fine
            with m.If(at(0)):
                m.d.sync += sums[c].eq(0)
            with m.Elif(writing):
                m.d.sync += sums[c].eq(sums[c] + lane_sum)
        state["p_sums"] = sums

    def _alpha_pass(self, m, state):
        """One column per cycle: alpha = exp(m_old - m_new) (0 without a previous maximum),
        l <- round(l * alpha); at the merge step l <- l + (sum P << G)."""
        cols, sch, spec = self.cols, self.schedule, self.alpha_spec
        at, counter = state["at"], state["counter"]
        column = counter("alpha_col", sch.a0, cols)
        sel_new, sel_old = Signal(self.score_shape), Signal(self.score_shape)
        m.d.sync += [sel_new.eq(select(state["new"], column)), sel_old.eq(select(state["old"], column))]
        unit = m.submodules.alpha_exp = ExpUnit(spec, pipelined=PIPELINED_EXP)
        distance = Signal(signed(self.score_shape.width + 1))
        m.d.comb += distance.eq(sel_new - sel_old)
        m.d.sync += unit.d.eq(self._clamped(m, distance, spec.width, "alpha_dist_clamped"))
        col_out = counter("alpha_col_out", sch.a_out0, cols)
        alpha = Signal(unsigned(self.alpha_frac + 1))
        l_regs = [Signal(self.l_width, name=f"l_{c}") for c in range(cols)]
        l_sel, col_held = Signal(self.l_width), Signal.like(col_out)
        alpha_valid, product_valid = Signal(), Signal()
        m.d.sync += [alpha_valid.eq(at(sch.a_out0, cols)), alpha.eq(Mux(select(state["was"], col_out), unit.e, 0)), l_sel.eq(select(l_regs, col_out)),
                     col_held.eq(col_out)]
        # Partial products, then their sum, then the rounded l (see accelgen.hdl.arith.split_product).
        partial = split_product(m, l_sel, alpha, "l_alpha")
        partial_col, partial_valid = Signal.like(col_out), Signal()
        product = Signal(self.l_width + self.alpha_frac + 1)
        product_col = Signal.like(col_out)
        m.d.sync += [partial_col.eq(col_held), partial_valid.eq(alpha_valid),
                     product.eq(partial), product_col.eq(partial_col), product_valid.eq(partial_valid)]
        for par in range(2):
            for c in range(cols):
                with m.If(alpha_valid & (state["tile"].tpar == par) & equals(col_held, c)):
                    m.d.sync += self.alpha[par][c].eq(alpha)
        scaled = round_shift_expr(product, self.alpha_frac, "half_up")
        for c in range(cols):
            with m.If(self.busy & product_valid & equals(product_col, c)):
                m.d.sync += l_regs[c].eq(scaled)
            with m.If(at(sch.merge)):
                m.d.sync += l_regs[c].eq(l_regs[c] + (state["p_sums"][c] << self.o_guard))
        state["l"] = l_regs

    def _reciprocal_pass(self, m, state):
        """At a block's last tile, one column per cycle: sh, r = round(2**K / (l >> sh))."""
        cols, sch, tile = self.cols, self.schedule, state["tile"]
        recip = m.submodules.recip = self._reciprocal
        column = state["counter"]("recip_col", sch.r0, cols)
        l_sel = Signal(self.l_width)
        m.d.sync += l_sel.eq(select(state["l"], column))
        sh = Signal(self.shift_width)
        for bit in range(self.norm_width, self.l_width):
            with m.If(l_sel[bit]):
                m.d.comb += sh.eq(bit - self.norm_width + 1)
        den, den_sh = Signal(self.norm_width), Signal.like(sh)
        m.d.sync += [den.eq(l_sel >> sh), den_sh.eq(sh)]
        m.submodules.shift_delay = shift_delay = DelayLine(sh.shape(), recip.latency)
        m.d.comb += [recip.s.eq(den), recip.s_valid.eq(tile.last & state["at"](sch.r0 + 2, cols)),
                     shift_delay.i.eq(den_sh)]
        col_out = state["counter"]("recip_col_out", sch.r_out0, cols)
        emitting = tile.last & state["at"](sch.r_out0, cols)
        for par in range(2):
            for c in range(cols):
                with m.If(emitting & (tile.bpar == par) & equals(col_out, c)):
                    m.d.sync += [self.recip[par][c].eq(recip.recip), self.shift[par][c].eq(shift_delay.o)]
