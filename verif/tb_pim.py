"""cocotb testbench of the PIM controller (design ``pim_ctrl``).

Each runner job is a batch of PIM jobs (:mod:`accelgen.verif.pim_host`). The bench writes the
weights into one behavioural channel model per channel (:mod:`accelgen.verif.pim_dram`, with
its own timing checker built from the *true* timing values, also when the controller was
built from a mutated table), streams the job descriptors and the vectors with random stalls,
takes the results with random backpressure, and every cycle feeds each channel's command slot
into its model and drives the model's read data back. Any timing or protocol violation fails
the run with cycle, command, rule, required and actual delay.
"""

import os

import cocotb
import numpy as np
from amaranth.hdl import Shape
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

from ..generators.pim_ctrl import PimCtrlParams
from ..hdl.pim.isa import Cmd, cmd_layout, job_layout, rdata_layout, result_layout
from ..hdl.util import ceil_div
from .pim_dram import ChannelSpec, Command, PimChannelModel
from .pim_host import expected_beats, job_placement, split_batch, vector_words
from .streams import Scoreboard, reset_trigger, seeded_rng
from .tb_common import run_jobs


def _field(layout, name) -> tuple[int, int]:
    """``(offset, mask)`` of field ``name`` of ``layout``."""
    field = layout[name]
    return field.offset, (1 << field.width) - 1


class ChannelMonitor:
    """Per-cycle bridge between the controller's command slots and the channel models.

    Added to the bench's sources so it runs in the bench's loop: at each falling edge it reads
    the slots of the cycle, steps every model, drives ``rdata`` for the cycle and records the
    trace and per-job cycle counts.
    """

    def __init__(self, dut, params, models, *, trace: bool):
        self.dut = dut
        self.params = params
        self.models = models
        lp = params.layout_params()
        slot, rdata = cmd_layout(lp), rdata_layout(lp)
        # Both ports are arrays of one layout per channel: element ``ch`` at ``ch * size``.
        self.slot_bits, self.slot_mask = slot.size, (1 << slot.size) - 1
        self.cmd_offset, self.cmd_mask = _field(slot, "cmd")
        self.rdata_bits = rdata.size
        self.valid_bit = 1 << rdata["valid"].offset
        self.data_offset = rdata["data"].offset
        self.cycle = 0
        self.trace_on = trace
        self.trace = []
        self.macs = 0
        self.job_start = []
        self.job_end = []
        self.job_macs = []
        self.name = "monitor"
        self.sent = 0
        self._busy = False

    @property
    def idle(self) -> bool:
        return True

    def drive(self) -> None:
        self.cycle += 1
        cycle = self.cycle
        slots = int(self.dut.cmd.value.to_unsigned())
        rdata = 0
        mac_now = False
        for ch, model in enumerate(self.models):
            word = (slots >> (ch * self.slot_bits)) & self.slot_mask
            is_nop = ((word >> self.cmd_offset) & self.cmd_mask) == Cmd.NOP
            cmd = None if is_nop else Command.unpack(word, model.spec)
            ret = model.step(cycle, cmd)
            if ret is not None:
                rdata |= ((ret.data << self.data_offset) | self.valid_bit) << (ch * self.rdata_bits)
            if cmd is not None:
                if cmd.op == "MACAB":
                    mac_now = True
                if self.trace_on:
                    self.trace.append((cycle, ch, int(Cmd[cmd.op]), cmd.bg, cmd.bank, cmd.row, cmd.col))
        if mac_now:
            self.macs += 1
            if self.job_macs:
                self.job_macs[-1] += 1
        self.dut.rdata.value = rdata
        # busy and done come from registers: stable at the falling edge, like the slots.
        busy = int(self.dut.busy.value)
        if busy and not self._busy:
            self.job_start.append(cycle)
            self.job_macs.append(0)
        if int(self.dut.done.value):
            self.job_end.append(cycle)
        self._busy = busy

    def sample(self) -> None:
        pass

    def finish(self) -> list:
        violations = []
        for model in self.models:
            violations += model.finish(self.cycle)
        return violations


async def run_pim_batch(bench, config, job, inputs):
    """One batch of PIM jobs (after an interrupted first attempt when the job has ``reset_at``)."""
    if job.get("reset_at"):
        await _run_pim_streams(bench, config, job, inputs, stop=reset_trigger(bench, job["reset_at"]))
        bench.dut._log.info("  reset in mid-stream: %s", bench.reset_report)
        bench.sources.clear()
        bench.sinks.clear()
    return await _run_pim_streams(bench, config, job, inputs)


async def _run_pim_streams(bench, config, job, inputs, stop=None):
    """The batch on fresh channel models (a reset of the controller is a fresh DRAM too: open
    rows are not carried over). With ``stop``, the run ends where it fires, unchecked."""
    dut = bench.dut
    params = PimCtrlParams(**config["params"])
    cfg = params.config()                      # the true timing, also for a mutated build
    lp = params.layout_params()
    spec = ChannelSpec.from_params(cfg)
    # ACCELGEN_PIM_RECORD=1 records violations instead of stopping at the first (debugging).
    on_violation = "record" if os.environ.get("ACCELGEN_PIM_RECORD") else "raise"
    models = [PimChannelModel(spec, channel=ch, on_violation=on_violation) for ch in range(params.channels)]
    pim_jobs = split_batch(inputs)
    for op, row_base, m, k, mask, tag, w, x in pim_jobs:
        for ch, bank, row, elements in job_placement(params, w, row_base, mask):
            models[ch].write_row_elements(bank, row, elements)

    seed = config["seed"]
    job_src = bench.source("job", stall=job["stall"], rng=seeded_rng(seed, job["name"], "job"))
    vec_src = bench.source("vec", stall=job["stall"], rng=seeded_rng(seed, job["name"], "vec"))
    res_sink = bench.sink("res", backpressure=job["backpressure"], rng=seeded_rng(seed, job["name"], "res"))
    monitor = ChannelMonitor(dut, params, models, trace=bool(inputs["trace"][0]))
    dut.rdata.value = 0
    bench.sources += [monitor, job_src, vec_src]
    bench.sinks.append(res_sink)
    await bench.reset()

    # Optional idle cycles before the first job (so that start-up refreshes are over).
    for _ in range(int(inputs["delay"][0]) if "delay" in inputs else 0):
        await bench_step(bench, monitor)
    job_l = job_layout(lp)
    for op, row_base, m, k, mask, tag, w, x in pim_jobs:
        desc = job_l.const({"op": op, "row_base": row_base, "m": m, "k": k, "ch_mask": mask, "tag": tag})
        job_src.send([desc.as_bits()])
        vec_src.send(vector_words(params, x))
    expected = expected_beats(params, inputs)
    res_sink.expect_count = len(expected)

    def progress(cycle):
        dut._log.info("  cycle %d: %d/%d result beats", cycle, len(res_sink.received), res_sink.expect_count)

    slowdown = 1.0 / max(0.05, (1 - job["stall"]) * (1 - job["backpressure"]))
    passes = sum(ceil_div(m, cfg.banks) * ceil_div(k, cfg.elems_per_row) for _, _, m, k, _, _, _, _ in pim_jobs)
    budget = int(slowdown * (passes * 3 * (cfg.row_pass_cycles() + 2 * cfg.cols_per_row * cfg.BL) + 2000)) + 20000
    await bench.run(timeout_cycles=budget, progress=progress, stop=stop)
    if stop is not None:
        return None
    # Let the last job finish (its final PREA may trail the last result) before judging.
    for _ in range(cfg.tRTP + cfg.CL + 8):
        await bench_step(bench, monitor)
    await RisingEdge(bench.clock)  # leave the read-only phase before the next batch drives inputs
    violations = monitor.finish()
    for violation in violations[:20]:
        dut._log.error("  %s", violation)

    res_l = result_layout(lp)
    acc_bits = Shape.cast(res_l["values"].shape.elem_shape).width
    tags, index, values, last = [], [], [], []
    for word in res_sink.received:
        beat = res_l.from_bits(word)
        tags.append(beat.tag)
        index.append(beat.index)
        last.append(beat.last)
        row = [beat.values[b] for b in range(cfg.banks)]
        values.append([v - (1 << acc_bits) if v >> (acc_bits - 1) else v for v in row])
    if job.get("check"):
        got = list(zip(tags, index, [tuple(r) for r in values], last))
        Scoreboard(f"{job['name']}: result beats", describe=repr).check(expected, got)
        dut._log.info("  %d PIM jobs, %d result beats equal W @ x, 0 timing violations",
                      len(pim_jobs), len(got))
    counters = {name: np.int64(getattr(dut, name).value.to_unsigned()) for name in (
        "busy_cycles", "mac_count", "act_count", "ref_count", "stall_row", "stall_column",
        "stall_vector", "stall_result", "stall_refresh")}
    return {
        "c": np.array(values, dtype=np.int64).reshape(-1, cfg.banks),
        "tag": np.array(tags, dtype=np.int64),
        "index": np.array(index, dtype=np.int64),
        "last": np.array(last, dtype=np.int64),
        "violations": np.int64(len(violations)),
        "macs_seen": np.int64(monitor.macs),
        "cycle_count": counters["busy_cycles"],
        "job_start": np.array(monitor.job_start[:len(monitor.job_end)], dtype=np.int64),
        "job_cycles": np.array([e - s for s, e in zip(monitor.job_start, monitor.job_end)], dtype=np.int64),
        "job_macs": np.array(monitor.job_macs[:len(monitor.job_end)], dtype=np.int64),
        "trace": np.array(monitor.trace, dtype=np.int64).reshape(-1, 7),
        "cycles": np.int64(monitor.cycle),
        **counters,
    }


async def bench_step(bench, monitor):
    """One more clock cycle with only the channel models running (streams idle)."""
    await FallingEdge(bench.clock)
    monitor.drive()
    await ReadOnly()
    monitor.sample()


@cocotb.test()
async def pim_jobs(dut):
    """Run the configured batches of PIM jobs (random stalls and backpressure per batch)."""
    await run_jobs(dut, run_pim_batch)
