"""Parameters, widths and tile schedule of the fused attention array (design ``attention``).

One head ``O = softmax(S * Q K^T) V`` on a ``bc x br`` array: ``bc`` keys of a tile (rows)
by ``br`` queries of a block (columns). Every width below is derived from the exact range of
the value it holds, and the golden model asserts each one after every operation.
"""

import dataclasses
import math
from fractions import Fraction

from ..hdl.arith import dot_product_range, operand_shape, shape_for_range
from ..hdl.exp_tables import ExpSpec
from ..hdl.reciprocal import reciprocal_quotient_bits
from ..hdl.attention_rows import RowUnits
from ..hdl.util import ceil_div, ceil_log2
from .params import DesignParams, param

__all__ = ["AttentionParams", "tiles_per_block", "tile_order", "useful_macs", "output_latency"]


def output_latency(bc: int) -> int:
    """Cycles from a PV beat's issue to its output beat leaving a ready sink: the engine's stage
    register, the array's PV latency (operand and product registers, ``ceil_log2(bc)`` tree
    levels), the row units' 8 stages and the output FIFO (write, read, transfer)."""
    return 1 + (2 + ceil_log2(bc)) + RowUnits.out_latency + 3


def tiles_per_block(nq: int, nkv: int, br: int, bc: int, causal: bool) -> list[int]:
    """Key tiles ``T_b`` computed for each block of ``br`` queries.

    Without ``causal`` every block sees all ``ceil(nkv/bc)`` tiles. With ``causal`` (bottom-right
    aligned: query ``i`` sees keys ``<= i + nkv - nq``) the tiles past the block's last visible
    key are skipped; a block whose every row is masked still runs one tile (it yields zeros).
    """
    tiles = ceil_div(nkv, bc)
    counts = []
    for b in range(ceil_div(nq, br)):
        if causal:
            last_key = min(nq, (b + 1) * br) - 1 + nkv - nq
            counts.append(max(1, min(tiles, last_key // bc + 1)))
        else:
            counts.append(tiles)
    return counts


def tile_order(nq: int, nkv: int, br: int, bc: int, causal: bool) -> list[tuple[int, int]]:
    """``(block, tile)`` of every tile of a job, in the order the array computes them."""
    return [(b, j) for b, count in enumerate(tiles_per_block(nq, nkv, br, bc, causal)) for j in range(count)]


def useful_macs(nq: int, nkv: int, d: int, causal: bool) -> int:
    """Multiply-accumulates of the mathematical attention: ``2 * d`` per unmasked (query, key)
    pair (one for ``Q K^T``, one for ``P V``)."""
    if not causal:
        return 2 * d * nq * nkv
    pairs = sum(max(0, min(nkv, i + nkv - nq + 1)) for i in range(nq))
    return 2 * d * pairs


@dataclasses.dataclass(frozen=True)
class AttentionParams(DesignParams):
    """Parameters of the fused attention array.

    Parameters
    ----------
    br : int
        Queries per block: the array's columns (1..64).
    bc : int
        Keys per tile: the array's rows (1..64).
    d_max : int
        Largest head dimension ``D`` (1..256); ``D`` is a runtime loop bound.
    n_max : int
        Largest ``nq`` and ``nkv`` (1..65536); sizes counters and the widths of ``l`` and ``O``.
    q_width, k_width, v_width : int
        Widths of the signed Q, K, V codes (2..16).
    score_num, score_frac : int
        The real logit of one ``Q K^T`` code: ``S = score_num * 2**-score_frac`` (it holds
        ``s_q * s_k / sqrt(D)``; docs/attention.md shows how to compute it from the scales).
    p_bits : int
        Fraction bits of the probabilities ``P`` (U0.p, saturated at ``2**p - 1``).
    alpha_frac : int
        Fraction bits of the rescale factor ``alpha`` (U1.A, exactly ``2**A`` when the running
        maximum does not change).
    o_guard : int
        Fraction bits ``G`` of ``O`` and ``l`` below the ``P*v`` LSB.
    l_extra_bits : int
        ``X``: the exp gives the probabilities with ``p + X`` fraction bits; the running sum ``l``
        adds them at that precision and ``P V`` uses them rounded to ``p`` bits (as
        FlashAttention-2 sums the unrounded probabilities). 0 sums the rounded ones.
    out_width, out_frac : int
        Output codes: signed ``out_width`` bits, ``o_real = code * s_v * 2**-out_frac``, rounded
        half up and saturated.
    exp_lanes : int
        Scores per cycle and column in the softmax passes (a power of two dividing ``bc``).
    mac : str
        ``"baseline"`` (binary products, banks and adder trees) or ``"carry_save"`` (products as
        carry-save pairs of Booth partial products, carry-save score banks, compressor column
        trees with one carry-propagate adder per column); bit-identical, same cycles.
    exp_table_bits : int or None
        Index bits of the ``2**-f`` table of the probability exp (2..10); default
        ``min(10, max(2, ceil((p_bits + l_extra_bits - 2) / 2)))``.
    o_fifo_beats : int or None
        Output FIFO depth in beats; default ``d_max + output_latency(bc) + 2``, so a ready sink
        never stalls the array.
    counter_width : int
        Width of the cycle, MAC and stall counters (16..64); they wrap.
    """

    br: int = param(16, "queries per block (array columns)", min=1, max=64)
    bc: int = param(16, "keys per tile (array rows)", min=1, max=64)
    d_max: int = param(64, "largest head dimension D", min=1, max=256)
    n_max: int = param(16384, "largest nq and nkv of a descriptor", min=1, max=65536)
    q_width: int = param(8, "signed Q code width", min=2, max=16)
    k_width: int = param(8, "signed K code width", min=2, max=16)
    v_width: int = param(8, "signed V code width", min=2, max=16)
    score_num: int = param(1, "logit scale numerator: S = score_num * 2**-score_frac", min=1, max=65535)
    score_frac: int = param(13, "logit scale exponent: S = score_num * 2**-score_frac", min=0, max=40)
    p_bits: int = param(12, "fraction bits of the probabilities P", min=4, max=16)
    alpha_frac: int = param(16, "fraction bits of the rescale factor alpha", min=8, max=24)
    o_guard: int = param(0, "guard fraction bits of O and l", min=0, max=8)
    l_extra_bits: int = param(4, "extra fraction bits of the probabilities summed into l", min=0, max=8)
    out_width: int = param(8, "signed output code width", min=2, max=16)
    out_frac: int = param(0, "output fraction bits (o_real = code * s_v * 2**-out_frac)", min=0, max=8)
    exp_lanes: int = param(1, "scores per cycle and column in the softmax passes", min=1, max=64)
    mac: str = param("baseline", "multiply-accumulate style of the array", choices=("baseline", "carry_save"))
    exp_table_bits: int | None = param(None, "index bits of the P exp table (default from p_bits)", min=2, max=10)
    o_fifo_beats: int | None = param(None, "output FIFO depth in beats (default d_max + pipeline)", min=1, max=4096)
    counter_width: int = param(48, "width of the cycle, MAC and stall counters (they wrap)", min=16, max=64)

    # -- operand and score widths -------------------------------------------------------------
    @property
    def q_shape(self):
        """Shape of a Q code."""
        return operand_shape(self.q_width, True)

    @property
    def k_shape(self):
        """Shape of a K code."""
        return operand_shape(self.k_width, True)

    @property
    def v_shape(self):
        """Shape of a V code."""
        return operand_shape(self.v_width, True)

    @property
    def score_width(self) -> int:
        """``W_S``: signed width of a ``Q K^T`` dot product of ``d_max`` terms (exact)."""
        return shape_for_range(*dot_product_range(self.q_shape, self.k_shape, self.d_max)).width

    @property
    def score_scale(self) -> Fraction:
        """``S`` as an exact fraction."""
        return Fraction(self.score_num, 1 << self.score_frac)

    def _distance_width(self, exp_frac: int) -> int:
        # Distances past ceil((E + 3) / (S log2 e)) give exp = 0 exactly; clamp them there.
        limit = math.ceil((exp_frac + 3) / float(self.score_scale * Fraction(math.log2(math.e))))
        return max(1, min(self.score_width, limit.bit_length()))

    @property
    def p_distance_width(self) -> int:
        """``w_dP``: bits of ``d = m - s`` at the probability exp (larger ``d`` is clamped)."""
        return self._distance_width(self.p_bits + self.l_extra_bits)

    @property
    def alpha_distance_width(self) -> int:
        """``w_dA``: bits of ``d = m_new - m_old`` at the rescale exp (larger ``d`` is clamped)."""
        return self._distance_width(self.alpha_frac)

    @property
    def p_spec(self) -> ExpSpec:
        """The probability exp: ``P_hi = exp(-d*S)`` as U1.(p+X) (then saturated to U0.(p+X))."""
        bits = self.p_bits + self.l_extra_bits
        return ExpSpec(self.p_distance_width, self.score_frac, self.score_num, bits, bits, "accurate",
                       self.exp_table_bits)

    @property
    def alpha_spec(self) -> ExpSpec:
        """The rescale exp: ``alpha = exp(-(m_new - m_old)*S)`` as U1.A."""
        return ExpSpec(self.alpha_distance_width, self.score_frac, self.score_num, self.alpha_frac,
                       self.alpha_frac, "accurate", max(2, math.ceil((self.alpha_frac - 2) / 2)))

    @property
    def p_max(self) -> int:
        """Largest probability code ``2**p - 1``."""
        return (1 << self.p_bits) - 1

    @property
    def p_hi_max(self) -> int:
        """Largest summed probability code ``2**(p+X) - 1``."""
        return (1 << (self.p_bits + self.l_extra_bits)) - 1

    # -- accumulators ---------------------------------------------------------------------------
    @property
    def colsum_width(self) -> int:
        """Signed width of a column's ``sum_m P*v`` over ``bc`` keys."""
        return shape_for_range(*dot_product_range(operand_shape(self.p_bits, False), self.v_shape, self.bc)).width

    @property
    def l_width(self) -> int:
        """``W_L``: unsigned width of the running sum ``l <= n_max * (2**(p+X) - 1) * 2**G``."""
        return (self.n_max * self.p_hi_max << self.o_guard).bit_length()

    @property
    def o_width(self) -> int:
        """``W_O``: signed width of the unnormalised output ``O = sum P v 2**(G+X)`` (one half-up
        carry per tile)."""
        return ((self.n_max * self.p_max << (self.v_width - 1 + self.o_guard + self.l_extra_bits))
                + self.n_max).bit_length() + 1

    @property
    def norm_width(self) -> int:
        """``N_L``: bits of ``l >> sh`` at the reciprocal."""
        return max(16, self.out_width + 8)

    @property
    def recip_shift(self) -> int:
        """``K``: the reciprocal is ``round_half_up(2**K / (l >> sh))``."""
        return self.norm_width + self.v_width + self.out_frac + 5

    @property
    def recip_den_min(self) -> int:
        """Smallest non-zero ``l >> sh``: ``l >= (2**(p+X) - 1) * 2**G`` once a row has a key."""
        return min(self.p_hi_max << self.o_guard, 1 << (self.norm_width - 1))

    @property
    def recip_width(self) -> int:
        """Width of the reciprocal ``r``."""
        return (((1 << (self.recip_shift + 1)) // self.recip_den_min + 1) >> 1).bit_length()

    @property
    def recip_latency(self) -> int:
        """Cycles of the pipelined reciprocal."""
        return reciprocal_quotient_bits(self.recip_shift, self.recip_den_min) + 2

    @property
    def shift_width(self) -> int:
        """Bits of the normalisation shift ``sh = max(0, bitlen(l) - N_L)``."""
        return max(1, max(0, self.l_width - self.norm_width).bit_length())

    @property
    def o_shape(self):
        """Shape of an output code."""
        return operand_shape(self.out_width, True)

    # -- descriptor fields ------------------------------------------------------------------------
    @property
    def n_bits(self) -> int:
        """Width of ``nq`` / ``nkv`` in the descriptor."""
        return self.n_max.bit_length()

    @property
    def d_bits(self) -> int:
        """Width of ``d`` in the descriptor."""
        return self.d_max.bit_length()

    def resolve(self):
        derived = {}
        if self.exp_table_bits is None:
            # Capped at the field's maximum (as the exp unit's default is): p_bits + l_extra_bits
            # up to 24 would ask for 11 index bits.
            derived["exp_table_bits"] = min(10, max(2, math.ceil((self.p_bits + self.l_extra_bits - 2) / 2)))
        if self.o_fifo_beats is None:
            # A block's d beats plus everything still in flight from the one before (at most the
            # output latency) plus one cycle of the registered room flag: a ready sink never
            # stalls the array.
            derived["o_fifo_beats"] = self.d_max + output_latency(self.bc) + 2
        return derived

    def check(self):
        lanes = self.exp_lanes
        if lanes & (lanes - 1) or self.bc % lanes:
            raise ValueError(f"exp_lanes={lanes} is out of range: must be a power of two dividing bc={self.bc} "
                             f"(one of {', '.join(str(1 << i) for i in range(7) if self.bc % (1 << i) == 0)})")
        if self.o_fifo_beats < self.d_max:
            raise ValueError(f"o_fifo_beats={self.o_fifo_beats} is out of range: must be an integer in "
                             f"{self.d_max}..4096 (one block's D output beats, d_max={self.d_max})")
        products = {
            "O * alpha": self.o_width + self.alpha_frac + 1,
            "l * alpha": self.l_width + self.alpha_frac + 1,
        }
        for what, bits in products.items():
            if bits > 63:
                raise ValueError(
                    f"n_max={self.n_max}, p_bits={self.p_bits}, l_extra_bits={self.l_extra_bits}, "
                    f"v_width={self.v_width}, o_guard={self.o_guard}, alpha_frac={self.alpha_frac} are out of range "
                    f"together: the row product {what} needs {bits} bits, the legal range is at most 63; lower "
                    "n_max, p_bits, l_extra_bits, v_width, o_guard or alpha_frac")

    def check_job(self, nq: int, nkv: int, d: int) -> None:
        """``ValueError`` unless a descriptor ``(nq, nkv, d)`` fits this configuration."""
        for name, value, limit in (("nq", nq, self.n_max), ("nkv", nkv, self.n_max), ("d", d, self.d_max)):
            if not isinstance(value, (int,)) or isinstance(value, bool) or not 1 <= value <= limit:
                limit_name = "d_max" if name == "d" else "n_max"
                raise ValueError(f"{name}={value!r} is out of range for this configuration: must be an integer in "
                                 f"1..{limit} ({limit_name}={limit})")
