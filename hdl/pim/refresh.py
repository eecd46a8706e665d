"""Refresh engine of the PIM controller: all-bank REF at row-pass boundaries."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .interfaces import refresh_port

__all__ = ["RefreshEngine", "refresh_window"]


def refresh_window(config) -> int:
    """Cycles before the end of a refresh interval from which a pass boundary refreshes.

    A bound on the time from one row-pass boundary to the REF at the next one: a row pass with
    its global-buffer load exposed (with both bus turnarounds and the block's accumulator
    reads), twice with dual row buffers (two passes are in flight), then the precharge and row
    cycle a REF waits for.
    """
    cols = config.cols_per_row
    bus = max(config.BL, config.tCCD_S)
    one_pass = (config.row_pass_cycles() + cols * bus + config.CWL + config.BL + config.tWTR_S
                + config.tRTW + 2 * config.n_acc * bus + config.tFAW)
    passes = 2 if config.dual_row_buffer else 1
    return passes * one_pass + config.tRP + config.tRC + 16


class RefreshEngine(wiring.Component):
    """Keeps the refresh obligation with all-bank REFs (``refresh_mode="ab"``).

    A credit counter (REFs issued minus refresh intervals elapsed, plus ``refresh_postpone``)
    must never go negative. The engine's interval starts a few cycles early, so that it ends
    no later than the DRAM's. A refresh is ``due`` when the credit is zero and fewer than
    :func:`refresh_window` cycles are left in the interval (the activate unit then opens no
    row, so the REF goes out at the next pass boundary), or when no job is active and the
    credit is below ``refresh_postpone + 1``. The REF is requested once every row buffer is
    closed. With ``refresh_mode="off"`` nothing is ever due.

    Members
    -------
    job_active : In(1)
        A job is active.
    open_any : In(1)
        A row buffer is open.
    cmd : Out(refresh_port)
        REF requests.
    due : Out(1)
        A refresh is due (no new ACTAB).
    """

    def __init__(self, config):
        self._config = config
        super().__init__({
            "job_active": In(1),
            "open_any": In(1),
            "cmd": Out(refresh_port()),
            "due": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        c = self._config
        if c.refresh_mode == "ab":
            window = refresh_window(c)
            credit_max = c.refresh_postpone + 1
            credit = Signal(range(credit_max + 1), init=c.refresh_postpone)
            refi = Signal(range(c.tREFI), init=min(4, c.tREFI - 1))
            tick = refi == c.tREFI - 1
            until_tick = c.tREFI - 1 - refi
            m.d.sync += refi.eq(Mux(tick, 0, refi + 1))
            m.d.sync += credit.eq(credit + self.cmd.grant - tick)
            urgent = ~credit.any() & (until_tick < window)
            idle_top_up = ~self.job_active & (credit < credit_max)
            m.d.comb += self.due.eq(urgent | idle_top_up)
        else:
            m.d.comb += self.due.eq(0)
        m.d.comb += self.cmd.req.eq(self.due & ~self.open_any & self.cmd.ok)
        return m
