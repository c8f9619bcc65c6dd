"""``python -m hyperzoo``: the ``hyperzoo`` command (pipelines start their steps this way)."""

import sys

from hyperzoo.cli import main

if __name__ == "__main__":
    sys.exit(main())
