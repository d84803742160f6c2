"""Build hook: compile the optional C scan of the featuriser (src/bandit_router/features/_scan.c).

With a C compiler and Python's headers the wheel carries ``bandit_router/features/_scan*.so``
(an editable install builds it in place, next to the source); without them the build goes on
and the featuriser uses its numpy path, which gives identical features. Set
``BANDIT_ROUTER_NO_EXTENSION=1`` to skip the compiler on purpose.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/bandit_router/features/_scan.c")


def _compile(source: Path, target: Path) -> str | None:
    """Compile ``source`` into the extension ``target``; the reason on failure, else None."""
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return f"no Python headers in {include}"
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    cmd = [*cc, "-O2", "-fPIC", "-shared", f"-I{include}", str(source), "-o", str(target)]
    if sys.platform == "darwin":
        cmd[len(cc):len(cc)] = ["-undefined", "dynamic_lookup"]
    elif sys.platform == "win32":
        return "the C scan is built on POSIX systems only"
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{cc[0]}: {exc}"
    if proc.returncode != 0:
        return proc.stderr.strip()[-500:] or f"{cc[0]} exited with {proc.returncode}"
    return None


class CustomBuildHook(BuildHookInterface):
    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel" or os.environ.get("BANDIT_ROUTER_NO_EXTENSION"):
            return
        root = Path(self.root)
        name = "_scan" + sysconfig.get_config_var("EXT_SUFFIX")
        if version == "editable":
            target = root / SOURCE.parent / name
        else:
            target = Path(tempfile.mkdtemp()) / name
        why = _compile(root / SOURCE, target)
        if why is not None:
            print(f"bandit-router: the C featuriser scan was not built ({why}); the numpy "
                  "path gives the same features", file=sys.stderr)
            return
        if version != "editable":
            build_data["force_include"][str(target)] = f"bandit_router/features/{name}"
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
