"""Rewrite every generated results block of the README and docs/ from docs/results/.

    python scripts/refresh_docs.py           # rewrite the blocks, list the files that changed
    python scripts/refresh_docs.py --check   # exit 1 if a block differs from its files
"""

import argparse
import sys
from pathlib import Path

from hyperzoo import doc_files, refresh, refreshed

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is stale")
    args = parser.parse_args()
    if args.check:
        stale = [p for p in doc_files(ROOT) if refreshed(p.read_text(), ROOT) != p.read_text()]
        for p in stale:
            print(f"stale generated block in {p.relative_to(ROOT)}")
        return 1 if stale else 0
    for p in refresh(doc_files(ROOT), ROOT):
        print(f"rewrote {p.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
