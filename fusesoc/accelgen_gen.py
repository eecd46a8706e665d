"""Entry point of the FuseSoC generator ``accelgen`` (``accelgen_gen.core``).

FuseSoC runs ``python3 accelgen_gen.py <input.yml>`` in the generator's output folder; the work
is done by :func:`accelgen.sim.fusesoc_gen.main`.
"""

import sys

from accelgen.sim.fusesoc_gen import main

if __name__ == "__main__":
    sys.exit(main())
