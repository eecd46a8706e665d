"""``python -m accelgen.sim.bench`` runs the benchmark suite (see :mod:`accelgen.sim.bench`)."""

import sys

from . import main

sys.exit(main())
