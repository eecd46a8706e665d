"""The figures that matter in a synthesis report, per target: the one place that knows them.

A flow's report (:func:`accelgen.synth.flows.run_flow` and the flow functions) holds every
count and log detail; :func:`summary` picks the figures a table, a CSV row or a console line
shows. Each target has:

- :data:`FIGURES`: every figure a summary can hold, in report order: keys of the report and,
  for ``generic``, two counts derived from ``cells_by_type`` (``gates``: cells that are not
  flip-flops, ``ff``: cells whose type contains ``DFF``);
- :data:`HEADLINE`: the default selection, the one-line summary of ``accelgen synth``.

``critical_path`` is the longest path of the flow: for ``generic`` the ``ltp -noff`` path
(length in cells, start and end signals, named signals on the way), for ECP5 nextpnr's
critical path of the clock (start and end cells, delay); ``fmax_seeds`` lists every seed's
Fmax when the ECP5 flow placed with several seeds (``pnr_error``: no seed placed).

``ecp5_nodsp`` is the ECP5 flow with ``nodsp=True`` (multipliers in logic); it has the figures
of ``ecp5``.
"""

from typing import Any

__all__ = ["FIGURES", "HEADLINE", "summary"]

_ECP5 = ("device", "lut4", "ccu2", "ff", "dsp_mult18", "dpram", "bram", "pnr_comb", "fmax_mhz", "freq_mhz",
         "note", "yosys_version", "critical_path", "fmax_seeds", "pnr_error")

#: Every figure of a summary, per target.
FIGURES: dict[str, tuple[str, ...]] = {
    "generic": ("cells", "gates", "ff", "logic_depth", "cells_by_type", "yosys_version", "critical_path"),
    "ecp5": _ECP5,
    "ecp5_nodsp": _ECP5,
    "ice40": ("lut4", "carry", "ff", "dsp_mac16", "bram", "yosys_version"),
}

#: The figures of a summary by default, per target.
HEADLINE: dict[str, tuple[str, ...]] = {
    "generic": ("cells", "logic_depth", "critical_path"),
    "ecp5": ("device", "lut4", "ff", "dsp_mult18", "fmax_mhz", "critical_path"),
    "ecp5_nodsp": ("device", "lut4", "ff", "dsp_mult18", "fmax_mhz", "critical_path"),
    "ice40": ("lut4", "carry", "ff", "dsp_mac16"),
}


def _flip_flops(report: dict) -> int:
    return sum(count for cell, count in report["cells_by_type"].items() if "DFF" in cell)


def _gates(report: dict) -> int:
    return sum(count for cell, count in report["cells_by_type"].items()
               if "DFF" not in cell and not cell.startswith("$scope"))


#: Figures computed from the report rather than read from it, per target.
_DERIVED = {"generic": {"ff": _flip_flops, "gates": _gates}}


def summary(report: dict, target: str, keys=None) -> dict[str, Any]:
    """The chosen figures of one flow's report.

    Parameters
    ----------
    report : dict
        The result of the ``target`` flow.
    target : str
        ``"generic"``, ``"ecp5"``, ``"ecp5_nodsp"`` or ``"ice40"``.
    keys : sequence of str, optional
        Figures to return, in this order (default: :data:`HEADLINE` ``[target]``); each one a
        figure of some target in :data:`FIGURES`. A figure the report does not hold is ``None``
        (the ECP5 ``note`` exists only when placement was skipped; another target's figures).

    Returns
    -------
    dict
        ``{figure: value}`` in the order of ``keys``.

    Raises
    ------
    ValueError
        If ``target`` is unknown or a key is no target's figure.
    """
    if target not in FIGURES:
        raise ValueError(f"target={target!r} has no summary; legal targets: {', '.join(FIGURES)}")
    keys = HEADLINE[target] if keys is None else tuple(keys)
    unknown = [key for key in keys if not any(key in figures for figures in FIGURES.values())]
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))} is not a synthesis figure; "
                         f"the {target} figures: {', '.join(FIGURES[target])}")
    derived = _DERIVED.get(target, {})
    return {key: derived[key](report) if key in derived else report.get(key) for key in keys}
