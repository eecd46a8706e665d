"""Synthesis reports for generated accelerator Verilog.

:mod:`accelgen.synth.flows` runs out-of-context synthesis of one Verilog file
with one top module using the YoWASP builds of Yosys and nextpnr:

* ``generic``: technology-independent ``synth -flatten`` cell counts and logic
  depth (:func:`synth_generic`);
* ``ecp5``: ``synth_ecp5`` + ``nextpnr-ecp5 --out-of-context`` on the smallest
  fitting LFE5U device, with resource use and fmax (:func:`synth_ecp5`);
* ``ice40``: ``synth_ice40 -nobram`` 4-input-LUT counts (:func:`synth_ice40`).

:func:`run_flow` selects a flow by name and saves its result as JSON;
:func:`summary` (:mod:`accelgen.synth.summary`) picks the figures of a result that tables,
CSV rows and console lines show, per target.
"""

from .flows import (
    ECP5_DEVICES,
    TARGETS,
    Ecp5Device,
    run_flow,
    synth_ecp5,
    synth_generic,
    synth_generic_by_module,
    read_stat_by_module,
    synth_ice40,
    tool_path,
)
from .summary import FIGURES, HEADLINE, summary

__all__ = [
    "ECP5_DEVICES",
    "FIGURES",
    "HEADLINE",
    "TARGETS",
    "Ecp5Device",
    "run_flow",
    "synth_ecp5",
    "synth_generic",
    "synth_generic_by_module",
    "read_stat_by_module",
    "synth_ice40",
    "summary",
    "tool_path",
]
