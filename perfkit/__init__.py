"""perfkit: analytics and forecasting for the annual performance evaluation (绩效评估) of a transport bureau."""

__version__ = "0.1.0"

import os as _os

# One BLAS/OpenMP thread per process unless the user set otherwise (before numpy is first imported):
# perfkit's matrices are small (a series of some sixty months), so threads only cost, and threads that
# spin-wait on a core another process needs made the growth fits ~15x slower on two cores (the brief's
# kernels and the snapshot's workers get the same setting: config.SINGLE_THREAD_ENV).
for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    _os.environ.setdefault(_name, "1")
del _name
