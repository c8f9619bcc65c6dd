"""``hyperzoo --help`` and every subcommand's ``--help`` (nested ones too, found by walking the
argparse tree) exit 0 without importing torch, h5py, Ray or scikit-learn: the parser and the
package ``__init__`` files it goes through must import those only when a command runs.

All the help screens run in one fresh interpreter, so a module imported by any of them stays
in ``sys.modules`` for the check; the first help screen that pulls in a heavy module is
reported with the project frames of the import that did it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "h5py", "ray", "sklearn")

PROBE = r"""
import argparse, contextlib, io, json, sys, traceback

HEAVY = set(sys.argv[1].split(","))
first_import = {}


class Witness:
    # sees every import before the real finders do; records who asked for a heavy module first
    def find_spec(self, name, path=None, target=None):
        if name in HEAVY and name not in first_import:
            frames = [f"{f.filename}:{f.lineno}" for f in traceback.extract_stack()
                      if "/importlib/" not in f.filename and "<frozen" not in f.filename]
            first_import[name] = frames[-7:-1]  # the last frame is this method
        return None


sys.meta_path.insert(0, Witness())
from hyperzoo.cli import build_parser, main


def commands(parser, prefix):
    yield prefix
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, prefix + [name])


tree = list(commands(build_parser(), []))
results = [{"argv": ["(building the parser)"], "code": 0, "usage": True,
            "imported": sorted(m for m in HEAVY if m in sys.modules)}]
for argv in tree:
    before = {m for m in HEAVY if m in sys.modules}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            main(argv + ["--help"])
        code = "returned without exiting"
    except SystemExit as done:
        code = done.code
    new = sorted(m for m in HEAVY if m in sys.modules and m not in before)
    results.append({"argv": argv, "code": code, "imported": new, "usage": "usage:" in out.getvalue()})
loaded = sorted(m for m in HEAVY if m in sys.modules)
print(json.dumps({"results": results, "first_import": first_import, "loaded": loaded}))
"""


def test_every_help_screen_exits_0_without_heavy_imports():
    done = subprocess.run([sys.executable, "-c", PROBE, ",".join(HEAVY)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    results = report["results"]
    argvs = [r["argv"] for r in results]
    # the walk found the nested commands, not only the top level
    assert [] in argvs and ["zoo", "generate"] in argvs and ["hyperrep", "train"] in argvs, argvs
    assert len(argvs) > 10, argvs
    failed = [f"hyperzoo {' '.join(r['argv'])} --help: exit {r['code']}" for r in results
              if r["code"] != 0 or not r["usage"]]
    assert not failed, "\n".join(failed)
    heavy = [f"hyperzoo {' '.join(r['argv'])} --help imported {', '.join(r['imported'])}; first import of "
             + "; ".join(f"{m} from {' <- '.join(reversed(report['first_import'].get(m, [])))}" for m in r["imported"])
             for r in results if r["imported"]]
    assert not heavy and not report["loaded"], "\n".join(heavy) or report["loaded"]
