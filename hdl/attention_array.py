"""The multiplier array of the fused attention engine: ``bc`` key rows by ``br`` query columns.

Processing element ``(m, p)`` holds the logit of key ``m`` and query ``p`` of a tile in one of
two score banks and owns one multiplier, shared by the two phases of a tile:

- **QK** (output stationary): beat ``e`` multiplies ``q[p, e]`` (broadcast down column ``p``)
  by ``k[m, e]`` (broadcast along row ``m``) and accumulates into the tile's bank (the beat
  with ``first`` set loads instead).
- **PV**: beat ``f`` multiplies the probability ``P[m, p]`` held in the tile's bank by
  ``v[m, f]`` (broadcast along row ``m``); a registered adder tree per column gives
  ``sum_m P[m, p] * v[m, f]``, :attr:`ScoreArray.pv_latency` cycles after the beat.

Between the two, the softmax unit reads the scores of a bank through :func:`bank_port` and
writes the probabilities back in place. The schedule (``QK(g+1)`` and ``PV(g-1)`` run while
the softmax of tile ``g`` works on the other bank) keeps the three users of a bank apart; the
array itself has no interlock.
"""

from amaranth.hdl import Module, Mux, Shape, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .mac import compress, partial_products, prefix_add
from .util import ceil_log2, equals, select

__all__ = ["beat_layout", "bank_port", "ScoreArray"]


def beat_layout(rows: int, cols: int, bus_shape, q_shape) -> data.StructLayout:
    """One array beat: ``valid``, ``pv`` (phase), ``first`` (first QK beat of a tile: load),
    ``bank``, the row bus (``k`` or ``v`` codes) and the query codes of the columns."""
    return data.StructLayout({
        "valid": 1, "pv": 1, "first": 1, "bank": 1,
        "bus": data.ArrayLayout(bus_shape, rows),
        "q": data.ArrayLayout(q_shape, cols),
    })


def bank_port(rows: int, cols: int, lanes: int, score_shape, p_bits: int) -> wiring.Signature:
    """The softmax unit's access to a score bank, from the unit's side: it reads ``lanes`` rows
    starting at ``rd_row * lanes`` of bank ``rd_bank`` (combinationally) and writes ``lanes``
    rows of probabilities at ``wr_row * lanes`` of ``wr_bank`` when ``wr_en``."""
    steps = rows // lanes
    return wiring.Signature({
        "rd_bank": Out(1),
        "rd_row": Out(range(max(steps, 2))),
        "rd_data": In(data.ArrayLayout(data.ArrayLayout(score_shape, cols), lanes)),
        "wr_en": Out(1),
        "wr_bank": Out(1),
        "wr_row": Out(range(max(steps, 2))),
        "wr_data": Out(data.ArrayLayout(data.ArrayLayout(unsigned(p_bits), cols), lanes)),
    })


class ScoreArray(wiring.Component):
    """``rows x cols`` processing elements with two score banks each and per-column PV trees.

    Parameters
    ----------
    rows, cols : int
        Keys per tile (``bc``) and queries per block (``br``).
    q_shape, bus_shape : shape
        Query codes; row-bus codes (the wider of K and V).
    score_width : int
        Signed width of a bank (an exact ``Q K^T`` dot product).
    p_bits : int
        Width of a probability code.
    colsum_width : int
        Signed width of a column's ``sum_m P*v``.
    lanes : int
        Rows per cycle on the softmax unit's bank port.
    mac : str
        ``"baseline"``: a binary product per element, binary banks, adder trees.
        ``"carry_save"``: each product is a carry-save pair of its Booth partial products, the
        banks hold carry-save pairs (a QK beat is one 4:2 compression, no carry chain), the
        column trees compress pairs and end in one carry-propagate adder per column, and the
        softmax port adds the pair of the row it reads. Bit-identical to ``"baseline"``.

    Members
    -------
    beat : In(beat_layout)
        The beat of this cycle (``valid`` low: none).
    sm : In(bank_port)
        The softmax unit's bank port.
    colsum : Out(ArrayLayout(signed(colsum_width), cols))
        Column sums of the PV beat :attr:`pv_latency` cycles earlier.
    """

    def __init__(self, *, rows: int, cols: int, q_shape, bus_shape, score_width: int, p_bits: int,
                 colsum_width: int, lanes: int, mac: str = "baseline"):
        if mac not in ("baseline", "carry_save"):
            raise ValueError(f"mac={mac!r} is not legal: must be 'baseline' or 'carry_save'")
        self.rows, self.cols, self.lanes, self.mac = rows, cols, lanes, mac
        self.q_shape, self.bus_shape = q_shape, bus_shape
        self.score_shape = signed(score_width)
        self.p_bits = p_bits
        self.colsum_shape = signed(colsum_width)
        super().__init__({
            "beat": In(beat_layout(rows, cols, bus_shape, q_shape)),
            "sm": In(bank_port(rows, cols, lanes, self.score_shape, p_bits)),
            "colsum": Out(data.ArrayLayout(self.colsum_shape, cols)),
        })

    #: Cycles from a QK beat until its accumulation is visible in the bank: operand register,
    #: product register, bank.
    QK_LATENCY = 3

    @property
    def tree_levels(self) -> int:
        """Registered adder levels of a column tree."""
        return ceil_log2(self.rows)

    @property
    def qk_latency(self) -> int:
        """Cycles from a QK beat until its accumulation is visible in the bank."""
        return self.QK_LATENCY

    @property
    def pv_latency(self) -> int:
        """Cycles from a PV beat to its column sums: operand and product registers, tree levels."""
        return 2 + self.tree_levels

    def elaborate(self, platform):
        m = Module()
        if self.mac == "carry_save":
            self._elaborate_carry_save(m)
            return m
        beat, rows, cols = self.beat, self.rows, self.cols
        banks = [[[Signal(self.score_shape, name=f"s{bank}_r{r}_c{c}") for c in range(cols)] for r in range(rows)]
                 for bank in range(2)]
        a_shape = signed(max(Shape.cast(self.q_shape).width, self.p_bits + 1))
        products = [[Signal(signed(a_shape.width + Shape.cast(self.bus_shape).width), name=f"prod_r{r}_c{c}")
                     for c in range(cols)] for r in range(rows)]
        # Stage 1: the operands (PV reads the probability from the tile's bank) are registered,
        # so a multiplier's inputs come straight from flip-flops. Stage 2: the products.
        operands, bus = self._operands(m, banks, a_shape)
        for r in range(rows):
            for c in range(cols):
                m.d.sync += products[r][c].eq(operands[r][c] * bus[r])
        tags = self._tags(m)
        # Stage 2: QK accumulates into its bank.
        self._accumulate(m, banks, products, tags)
        self._softmax_port(m, banks)
        self._column_trees(m, products)
        return m

    def _operand(self, banks, r, c):
        beat = self.beat
        prob = Mux(beat.bank, banks[1][r][c], banks[0][r][c])[:self.p_bits]
        return Mux(beat.pv, prob, beat.q[c])

    def _operands(self, m, banks, a_shape):
        operands = [[Signal(a_shape, name=f"op_r{r}_c{c}") for c in range(self.cols)] for r in range(self.rows)]
        bus = [Signal(self.bus_shape, name=f"bus_r{r}") for r in range(self.rows)]
        for r in range(self.rows):
            m.d.sync += bus[r].eq(self.beat.bus[r])
            for c in range(self.cols):
                m.d.sync += operands[r][c].eq(self._operand(banks, r, c))
        return operands, bus

    def _tags(self, m):
        """The QK tags at the bank's write (two stages after the beat)."""
        beat = self.beat
        layout = data.StructLayout({"qk": 1, "first": 1, "bank": 1})
        early, tags = Signal(layout), Signal(layout)
        m.d.sync += [early.qk.eq(beat.valid & ~beat.pv), early.first.eq(beat.first), early.bank.eq(beat.bank),
                     tags.eq(early)]
        return tags

    def _elaborate_carry_save(self, m):
        beat, rows, cols, width = self.beat, self.rows, self.cols, self.score_shape.width
        pair_width = max(width, self.colsum_shape.width)
        sums = [[[Signal(width, name=f"s{bank}_r{r}_c{c}_sum") for c in range(cols)] for r in range(rows)]
                for bank in range(2)]
        carries = [[[Signal(width, name=f"s{bank}_r{r}_c{c}_carry") for c in range(cols)] for r in range(rows)]
                   for bank in range(2)]
        pairs = [[(Signal(pair_width, name=f"pp_r{r}_c{c}_sum"), Signal(pair_width, name=f"pp_r{r}_c{c}_carry"))
                  for c in range(cols)] for r in range(rows)]
        # Stage 1: the operands (the probability of PV sits in the sum word of the bank; its
        # carry word is zero). Stage 2: each product as a carry-save pair of its Booth partial
        # products.
        a_shape = signed(max(Shape.cast(self.q_shape).width, self.p_bits + 1))
        operands, bus = self._operands(m, sums, a_shape)
        for r in range(rows):
            for c in range(cols):
                rows_pp = partial_products(operands[r][c], bus[r], pair_width)
                pair = compress(rows_pp, pair_width, m=m, name=f"pp_r{r}_c{c}")
                m.d.sync += [pairs[r][c][0].eq(pair[0]), pairs[r][c][1].eq(pair[1])]
        tags = self._tags(m)
        # Stage 2: QK accumulates a pair into the bank's pair with one 4:2 compression (one
        # compressor per element, on the pair of the bank the beat addresses).
        sm, lanes = self.sm, self.lanes
        for r in range(rows):
            for c in range(cols):
                old = [Mux(tags.first, 0, Mux(tags.bank, words[1][r][c], words[0][r][c])) for words in (sums, carries)]
                new = compress([pairs[r][c][0][:width], pairs[r][c][1][:width], *old], width, m=m,
                               name=f"acc_r{r}_c{c}")
                for bank in range(2):
                    write_p = sm.wr_en & (sm.wr_bank == bank) & equals(sm.wr_row, r // lanes)
                    with m.If(tags.qk & (tags.bank == bank)):
                        m.d.sync += [sums[bank][r][c].eq(new[0]), carries[bank][r][c].eq(new[1])]
                    with m.Elif(write_p):
                        m.d.sync += [sums[bank][r][c].eq(sm.wr_data[r % lanes][c]), carries[bank][r][c].eq(0)]
        # The softmax unit reads binary scores: one adder per lane and column after the row mux.
        for lane in range(lanes):
            for c in range(cols):
                picked = []
                for words in (sums, carries):
                    bank_rows = [select([words[bank][r][c] for r in range(lane, rows, lanes)], sm.rd_row)
                                 for bank in range(2)]
                    picked.append(Mux(sm.rd_bank, bank_rows[1], bank_rows[0]))
                m.d.comb += sm.rd_data[lane][c].eq((picked[0] + picked[1])[:width].as_signed())
        # Column trees of pairs: one 4:2 compression per level, one carry-propagate adder at the end.
        for c in range(cols):
            level_pairs = [pairs[r][c] for r in range(rows)]
            level = 0
            while len(level_pairs) > 1:
                merged = []
                for i in range(0, len(level_pairs), 2):
                    if i + 1 < len(level_pairs):
                        pair = compress([*level_pairs[i], *level_pairs[i + 1]], pair_width, m=m,
                                        name=f"tree_c{c}_l{level}_{i // 2}")
                    else:
                        pair = level_pairs[i]
                    regs = (Signal(pair_width, name=f"tree_c{c}_l{level}_{i // 2}_sum"),
                            Signal(pair_width, name=f"tree_c{c}_l{level}_{i // 2}_carry"))
                    last_level = len(level_pairs) <= 2
                    if last_level:
                        total = prefix_add(m, pair[0], pair[1], pair_width, name=f"cpa_c{c}")
                        reg = Signal(self.colsum_shape, name=f"tree_c{c}_sum")
                        m.d.sync += reg.eq(total[:self.colsum_shape.width].as_signed())
                        merged.append(reg)
                    else:
                        m.d.sync += [regs[0].eq(pair[0]), regs[1].eq(pair[1])]
                        merged.append(regs)
                level_pairs, level = merged, level + 1
            if isinstance(level_pairs[0], tuple):   # one row: the product pair itself
                total = prefix_add(m, level_pairs[0][0], level_pairs[0][1], pair_width, name=f"cpa_c{c}")
                m.d.comb += self.colsum[c].eq(total[:self.colsum_shape.width].as_signed())
            else:
                m.d.comb += self.colsum[c].eq(level_pairs[0])

    def _accumulate(self, m, banks, products, tags):
        sm, lanes = self.sm, self.lanes
        for bank in range(2):
            for r in range(self.rows):
                write_p = sm.wr_en & (sm.wr_bank == bank) & equals(sm.wr_row, r // lanes)
                for c in range(self.cols):
                    cell = banks[bank][r][c]
                    with m.If(tags.qk & (tags.bank == bank)):
                        m.d.sync += cell.eq(Mux(tags.first, products[r][c], cell + products[r][c]))
                    with m.Elif(write_p):
                        m.d.sync += cell.eq(sm.wr_data[r % lanes][c])

    def _softmax_port(self, m, banks):
        sm, lanes = self.sm, self.lanes
        for lane in range(lanes):
            for c in range(self.cols):
                bank_rows = [select([banks[bank][r][c] for r in range(lane, self.rows, lanes)], sm.rd_row)
                             for bank in range(2)]
                m.d.comb += sm.rd_data[lane][c].eq(Mux(sm.rd_bank, bank_rows[1], bank_rows[0]))

    def _column_trees(self, m, products):
        for c in range(self.cols):
            values = [products[r][c] for r in range(self.rows)]
            level = 0
            while len(values) > 1:
                paired = []
                for i in range(0, len(values), 2):
                    total = values[i] + values[i + 1] if i + 1 < len(values) else values[i]
                    reg = Signal(self.colsum_shape, name=f"tree_c{c}_l{level}_{i // 2}")
                    m.d.sync += reg.eq(total)
                    paired.append(reg)
                values, level = paired, level + 1
            m.d.comb += self.colsum[c].eq(values[0])
