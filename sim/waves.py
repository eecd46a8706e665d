"""Waveforms of usable size: a trace depth and a window of clock cycles.

A waveform of a whole regression holds every signal of every submodule for every cycle; on
a large array that is gigabytes. Two controls keep it to what a user looks at:

- **depth** (:attr:`WaveOptions.depth`): Verilator's ``--trace-depth``, the number of module
  levels traced (1 = the top level's ports and signals only). It is a build flag, so it is
  part of the build's cache key.
- **window** (:attr:`WaveOptions.start` / :attr:`WaveOptions.stop`): only the clock cycles
  ``start <= cycle < stop``, counted from the start of the simulation (cycle ``n`` begins at
  ``n`` clock periods). cocotb's Verilator main traces from time 0 to the end, so a windowed
  run records a VCD and :func:`window_vcd` cuts it: the header, every signal's value at the
  window's start, then the changes inside the window.
"""

import dataclasses
import re
from pathlib import Path

__all__ = ["WaveOptions", "window_vcd", "CLOCK_PERIOD_NS"]

#: The testbenches' clock period (:class:`accelgen.verif.streams.StreamBench`).
CLOCK_PERIOD_NS = 10

_UNITS_PER_NS = {"s": 1e-9, "ms": 1e-6, "us": 1e-3, "ns": 1.0, "ps": 1e3, "fs": 1e6}


@dataclasses.dataclass(frozen=True)
class WaveOptions:
    """What a recorded waveform holds.

    Parameters
    ----------
    depth : int or None
        Module levels traced (Verilator ``--trace-depth``, >= 1); ``None``: all.
    start : int or None
        First clock cycle kept (>= 0); ``None``: from the start.
    stop : int or None
        First clock cycle no longer kept (> ``start``); ``None``: to the end.
    """

    depth: int | None = None
    start: int | None = None
    stop: int | None = None

    def __post_init__(self):
        for name in ("depth", "start", "stop"):
            value = getattr(self, name)
            low = 1 if name == "depth" else 0
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < low):
                raise ValueError(f"waves {name}={value!r} is not legal: must be an integer >= {low}")
        if self.start is not None and self.stop is not None and self.stop <= self.start:
            raise ValueError(f"waves stop={self.stop} is not legal: must be greater than start={self.start}")

    @property
    def windowed(self) -> bool:
        """Whether only a window of cycles is kept (the run records a VCD, then cuts it)."""
        return self.start is not None or self.stop is not None

    def build_args(self) -> tuple:
        """Verilator flags of the depth."""
        return () if self.depth is None else ("--trace-depth", str(self.depth))


def _units_per_ns(timescale: str) -> float:
    match = re.fullmatch(r"\s*(\d+)\s*([munpf]?s)\s*", timescale)
    if not match:
        raise ValueError(f"unreadable VCD $timescale {timescale!r}")
    return _UNITS_PER_NS[match.group(2)] / int(match.group(1))


def _change_id(line: str) -> str | None:
    """The identifier a value-change line sets (``1!``, ``b0101 !``, ``r1.5 !``), else None."""
    if not line or line[0] in "#$":
        return None
    if line[0] in "bBrR":
        parts = line.split()
        return parts[1] if len(parts) == 2 else None
    return line[1:] if line[0] in "01xXzZ" and len(line) > 1 else None


def window_vcd(source: Path, target: Path, start_cycle: int | None, stop_cycle: int | None,
               period_ns: float = CLOCK_PERIOD_NS) -> dict:
    """Copy ``source`` to ``target`` keeping the cycles ``start_cycle <= cycle < stop_cycle``.

    Streams the file (no size limit). The result is a valid VCD: the header, a ``$dumpvars``
    block at the window's first time with every signal's value there, and the value changes
    inside the window. Returns ``{"signals", "changes_kept", "first_time", "last_time"}``.
    """
    values: dict[str, str] = {}
    kept = 0
    with open(source, errors="replace") as src, open(target, "w") as dst:
        header = []
        for line in src:
            header.append(line)
            if line.startswith("$enddefinitions"):
                break
        text = "".join(header)
        match = re.search(r"\$timescale\s+(.*?)\s*\$end", text, re.S)
        scale = _units_per_ns(match.group(1) if match else "1ps") * period_ns
        begin = 0 if start_cycle is None else round(start_cycle * scale)
        end = None if stop_cycle is None else round(stop_cycle * scale)
        dst.write(text)
        now, opened = 0, False
        for raw in src:
            line = raw.strip()
            if line.startswith("#"):
                now = int(line[1:])
                if end is not None and now >= end:
                    break
                if now >= begin and not opened:
                    dst.write(f"#{begin}\n$dumpvars\n" + "".join(f"{v}\n" for v in values.values()) + "$end\n")
                    opened = True
                if opened and now > begin:
                    dst.write(f"#{now}\n")
                continue
            ident = _change_id(line)
            if ident is None:
                continue
            values[ident] = line
            if opened:
                dst.write(line + "\n")
                kept += 1
        if not opened:  # the window starts after the last change: its state is the final one
            dst.write(f"#{begin}\n$dumpvars\n" + "".join(f"{v}\n" for v in values.values()) + "$end\n")
            now = begin
        if end is not None:
            dst.write(f"#{end}\n")
    return {"signals": len(values), "changes_kept": kept, "first_time": begin,
            "last_time": end if end is not None else now}
