"""cocotb testbench of the output-stationary systolic array (design ``systolic``).

Each job is a stream of beats: ``a_beats`` (beats, rows), ``b_beats`` (beats, cols) and
``last`` (beats,), which ends a tile. The bench streams them with random source stalls on
``a`` and ``b`` (independently) and random backpressure on ``c``, collects the result rows,
and, when the job asks for it, compares them with the bit-exact golden model.
"""

import cocotb

from .systolic_host import expected_rows
from .tb_common import design_params, run_jobs
from .tb_engines import run_tile_job


async def run_systolic_job(bench, config, job, inputs):
    # The engines' job with depth 1 (flat beats) plus the array's column skew.
    skew = design_params(config).cols
    return await run_tile_job(bench, config, job, inputs, golden_rows=expected_rows, skew=skew)


@cocotb.test()
async def stream_jobs(dut):
    """Run the configured jobs (random stalls and backpressure per job)."""
    await run_jobs(dut, run_systolic_job)
