"""Train a hyper-representation: the Ray job entry point (same options as ``hyperzoo hyperrep train``).

    ray job submit --address http://HEAD:8265 --working-dir . --entrypoint-num-gpus 1 -- \
        python scripts/train_hyperrep.py --zoo /abs/zoo.h5 --config configs/hyperrep/eurosat.toml --out /abs/run

Under ``ray job submit`` the script runs in a copy of the working directory, so give
``--zoo`` and ``--out`` as absolute paths; the run resumes from ``--out``'s last checkpoint.
"""

import sys

from hyperrep import main

if __name__ == "__main__":
    sys.exit(main())
