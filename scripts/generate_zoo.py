"""Generate a model zoo: the Ray job entry point (same options as ``hyperzoo zoo generate``).

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python scripts/generate_zoo.py --config configs/zoos/tiny.toml --out /abs/path/tiny.h5

Under ``ray job submit`` the driver runs in a copy of the working directory, so give
``--out`` (and any data root in the config) as absolute paths. The nodes need only the
dependencies: Ray puts the uploaded working directory first on the Python path of the
driver and of every task, so the workers run the driver's code.
"""

import sys

from zoo import main

if __name__ == "__main__":
    sys.exit(main())
