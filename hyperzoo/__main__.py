"""``python -m hyperzoo``: the ``hyperzoo`` command (pipelines start their steps this way)."""

import sys

from hyperzoo.cli import main

sys.exit(main())
