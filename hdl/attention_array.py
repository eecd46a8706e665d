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
                 colsum_width: int, lanes: int):
        self.rows, self.cols, self.lanes = rows, cols, lanes
        self.q_shape, self.bus_shape = q_shape, bus_shape
        self.score_shape = signed(score_width)
        self.p_bits = p_bits
        self.colsum_shape = signed(colsum_width)
        super().__init__({
            "beat": In(beat_layout(rows, cols, bus_shape, q_shape)),
            "sm": In(bank_port(rows, cols, lanes, self.score_shape, p_bits)),
            "colsum": Out(data.ArrayLayout(self.colsum_shape, cols)),
        })

    @property
    def tree_levels(self) -> int:
        """Registered adder levels of a column tree."""
        return ceil_log2(self.rows)

    @property
    def pv_latency(self) -> int:
        """Cycles from a PV beat to its column sums: the product register and the tree levels."""
        return 1 + self.tree_levels

    @property
    def qk_latency(self) -> int:
        """Cycles from a QK beat until its accumulation is visible in the bank."""
        return 2

    def elaborate(self, platform):
        m = Module()
        beat, rows, cols = self.beat, self.rows, self.cols
        banks = [[[Signal(self.score_shape, name=f"s{bank}_r{r}_c{c}") for c in range(cols)] for r in range(rows)]
                 for bank in range(2)]
        a_shape = signed(max(Shape.cast(self.q_shape).width, self.p_bits + 1))
        products = [[Signal(signed(a_shape.width + Shape.cast(self.bus_shape).width), name=f"prod_r{r}_c{c}") for c in range(cols)]
                    for r in range(rows)]
        # Stage 1: one product per element; PV reads the probability from the tile's bank.
        for r in range(rows):
            for c in range(cols):
                prob = Mux(beat.bank, banks[1][r][c], banks[0][r][c])[:self.p_bits]
                operand = Mux(beat.pv, prob, beat.q[c])
                m.d.sync += products[r][c].eq(operand * beat.bus[r])
        tags = Signal(data.StructLayout({"qk": 1, "first": 1, "bank": 1}))
        m.d.sync += [tags.qk.eq(beat.valid & ~beat.pv), tags.first.eq(beat.first), tags.bank.eq(beat.bank)]
        # Stage 2: QK accumulates into its bank.
        self._accumulate(m, banks, products, tags)
        self._softmax_port(m, banks)
        self._column_trees(m, products)
        return m

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
