"""Build hook: compile the optional C helpers of the decision's hot path.

``src/bandit_router/features/_scan.c`` (the featuriser's scan and word look-ups),
``src/bandit_router/policy/_argmax.c`` (Thompson sampling's decision and its propensity),
``src/bandit_router/policy/_predict.c`` (every arm's posterior mean and spread) and
``src/bandit_router/routing/_explain.c`` (a decision's prices and explanation). With a C
compiler and Python's headers the wheel carries ``bandit_router/<package>/<name>*.so`` (an
editable install builds them in place, next to the source); without them the build goes on
and each module uses its numpy path, which gives identical features and propensity
integrands, and means and spreads equal up to float rounding (the C prediction sums in its
own order, not BLAS's: the choices' last bits differ, each path's are pinned in
tests/policy/test_propensity_native.py). Set ``BANDIT_ROUTER_NO_EXTENSION=1`` to skip the
compiler on purpose.
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

SOURCES = (Path("src/bandit_router/features/_scan.c"),
           Path("src/bandit_router/policy/_argmax.c"),
           Path("src/bandit_router/policy/_predict.c"),
           Path("src/bandit_router/routing/_explain.c"))


def _compile(source: Path, target: Path) -> str | None:
    """Compile ``source`` into the extension ``target``; the reason on failure, else None."""
    include = sysconfig.get_paths()["include"]
    if not (Path(include) / "Python.h").exists():
        return f"no Python headers in {include}"
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    # -ffp-contract=off: no fused multiply-add, so the C arithmetic rounds as numpy's does.
    cmd = [*cc, "-O2", "-ffp-contract=off", "-fPIC", "-shared", f"-I{include}", str(source),
           "-o", str(target)]
    if sys.platform == "darwin":
        cmd[len(cc):len(cc)] = ["-undefined", "dynamic_lookup"]
    elif sys.platform.startswith("linux"):
        cmd.append("-ldl")  # _argmax.c's dlsym (in libc itself from glibc 2.34; a stub there)
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
        built = False
        for source in SOURCES:
            name = source.stem + sysconfig.get_config_var("EXT_SUFFIX")
            if version == "editable":
                target = root / source.parent / name
            else:
                target = Path(tempfile.mkdtemp()) / name
            why = _compile(root / source, target)
            if why is not None:
                print(f"bandit-router: {source} was not built ({why}); its numpy path gives "
                      "the same results", file=sys.stderr)
                continue
            if version != "editable":
                package = source.parent.relative_to("src").as_posix()
                build_data["force_include"][str(target)] = f"{package}/{name}"
            built = True
        if built:
            build_data["pure_python"] = False
            build_data["infer_tag"] = True
