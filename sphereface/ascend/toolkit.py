"""Where the CANN tools are, found the way a user has them installed.

``atc`` and the runtime libraries are usable only after sourcing the
toolkit's ``set_env.sh``, which a Jupyter server or a fresh shell has
usually not done; so tools are looked up, and run, in a ``bash`` that
sources the script first.  msame is built from source by the user and
run from its build folder, so it is never on the PATH by itself: it
comes from an argument, ``$MSAME`` or the PATH.  ais_bench is a Python
module installed beside the toolkit.
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

SET_ENV = "set_env.sh"
ASCEND_ROOT = Path("/usr/local/Ascend")  # root installs
BUILD_MSAME = ("git clone https://gitee.com/ascend/tools.git && "
               "cd tools/msame && ./build.sh g++ $PWD/out")
_TOOLS_GIT = "git+https://gitee.com/ascend/tools.git"
INSTALL_AIS_BENCH = (
    f"pip install '{_TOOLS_GIT}#egg=aclruntime&subdirectory="
    "ais-bench_workload/tool/ais_bench/backend' "
    f"'{_TOOLS_GIT}#egg=ais_bench&subdirectory="
    "ais-bench_workload/tool/ais_bench'")


class ToolError(RuntimeError):
    """A CANN tool is missing or failed where the toolkit is present."""


def standard_places():
    """Toolkit folders of root, non-root and CANN 8.5+ installs."""
    return [ASCEND_ROOT / "ascend-toolkit",
            Path.home() / "Ascend" / "ascend-toolkit",
            ASCEND_ROOT / "cann"]


def find_set_env(explicit=None, environ=None):
    """The toolkit's ``set_env.sh``, or None when there is no toolkit.

    Looks at ``explicit`` (the script or its folder; an error if it is
    not there), then ``$ASCEND_TOOLKIT_HOME`` and ``$ASCEND_HOME_PATH``
    (they name ``.../latest``: the script is there or one level up),
    then :func:`standard_places` and their ``latest/``.
    """
    if explicit is not None:
        path = Path(explicit).expanduser()
        script = path / SET_ENV if path.is_dir() else path
        if not script.is_file():
            raise FileNotFoundError(f"{path}: no {SET_ENV} there")
        return script
    environ = os.environ if environ is None else environ
    candidates = []
    for name in ("ASCEND_TOOLKIT_HOME", "ASCEND_HOME_PATH"):
        if environ.get(name):
            home = Path(environ[name])
            candidates += [home, home.parent]
    for place in standard_places():
        candidates += [place, place / "latest"]
    for folder in candidates:
        if (folder / SET_ENV).is_file():
            return folder / SET_ENV
    return None


def sourced(args, set_env):
    """``args`` as a bash command run after sourcing ``set_env``."""
    command = shlex.join(str(a) for a in args)
    return ["bash", "-c",
            f"source {shlex.quote(str(set_env))} >/dev/null && {command}"]


def run_tool(args, set_env, cwd=None, env=None):
    """Run ``args`` after sourcing ``set_env``; stdout and stderr text.

    ``env`` entries are added to the environment (e.g. the log folder).
    """
    environ = dict(os.environ, **(env or {}))
    return subprocess.run(sourced(args, set_env), cwd=cwd, env=environ,
                          capture_output=True, text=True, check=False)


def which_after_sourcing(name, set_env):
    """Path of ``name`` on the PATH that ``set_env`` sets, or None."""
    result = run_tool(["command", "-v", name], set_env)
    found = result.stdout.strip()
    return Path(found) if result.returncode == 0 and found else None


def find_msame(explicit=None, environ=None):
    """msame's path: ``explicit``, then ``$MSAME``, then the PATH.

    None when none of them has it; an explicit path or ``$MSAME`` that
    is not an executable file is an error.
    """
    environ = os.environ if environ is None else environ
    for given, what in ((explicit, "--msame"),
                        (environ.get("MSAME"), "$MSAME")):
        if given:
            path = Path(given).expanduser()
            if not (path.is_file() and os.access(path, os.X_OK)):
                raise FileNotFoundError(
                    f"{path} ({what}): not an executable msame")
            return path.resolve()
    found = shutil.which("msame", path=environ.get("PATH"))
    return Path(found) if found else None


def ais_bench_works(set_env):
    """True when ``python -m ais_bench`` (the om runner) runs here.

    Checked after sourcing ``set_env`` (it sets PYTHONPATH and the
    libraries' path); the help must list ``--dymBatch``, which the
    unrelated PyPI package of the same name lacks.
    """
    result = run_tool([sys.executable, "-m", "ais_bench", "--help"],
                      set_env)
    return result.returncode == 0 and "--dymBatch" in result.stdout


def no_runner_message():
    """What to do when the toolkit is here but nothing can run an om."""
    return ("the CANN toolkit is here but neither msame nor ais_bench is: "
            f"build msame ({BUILD_MSAME}) and pass --msame "
            "tools/msame/out/msame (or set $MSAME), or install ais_bench: "
            f"{INSTALL_AIS_BENCH}; to convert here and run on another "
            "machine, use --convert-only")
