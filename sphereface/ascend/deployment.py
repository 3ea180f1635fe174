"""The whole path in one call: test set -> .bin -> atc -> msame -> accuracy.

:func:`deploy` is what ``python -m sphereface.ascend deploy`` and the
book's chapter 6 run.  With a CANN toolkit it converts the ``.pb`` once
(dynamic batch gears, ``force_fp16``) and runs the om at every gear with
msame or ais_bench; a tool that is missing or fails there is an error,
never a quiet fall-back.  Without a toolkit it runs the ``.pb`` on the
CPU in msame's layout, and says loudly that no NPU was used.  Every
record names the route that produced it.  Everything is written inside
``work``.
"""

import dataclasses
import json
from pathlib import Path

from sphereface.ascend import bins, scoring, tools
from sphereface.ascend.toolkit import (
    BUILD_MSAME,
    ToolError,
    ais_bench_works,
    find_msame,
    find_set_env,
    no_runner_message,
    standard_places,
)

OM_NAME = "sphereface"
RESULTS = "deployment.json"
BOARD_SCRIPT = "run_on_board.sh"
STAND_IN = "cpu-stand-in"


@dataclasses.dataclass
class Deployment:
    """What :func:`deploy` did: the route, the om, one result per gear."""

    route: str
    records: list
    results: dict  # gear -> scoring.Accuracy
    folders: dict  # gear -> the tool's run folder
    om: Path = None
    board_script: Path = None


def _check_gears(gears):
    gears = [int(g) for g in gears]
    if not 2 <= len(gears) <= 100 or min(gears) < 1 or max(gears) > 2048:
        raise ValueError(f"gears {gears}: atc takes 2 to 100 batch gears, "
                         "each 1 to 2048")
    if len(set(gears)) != len(gears):
        raise ValueError(f"gears {gears}: each gear once")
    return gears


def _prepare_work(work, overwrite):
    work = Path(work).resolve()
    if (work / RESULTS).exists() and not overwrite:
        raise FileExistsError(
            f"{work / RESULTS}: {work} holds an earlier deployment; pass "
            "overwrite=True (--overwrite) to replace it, or choose another "
            "folder")
    work.mkdir(parents=True, exist_ok=True)
    return work


def choose_route(set_env=None, msame=None, convert_only=False):
    """``(route, set_env script, msame path)`` for this machine.

    ``route`` is "msame", "ais_bench", the stand-in, or None when only
    converting.  A toolkit without a runner, or an msame without a
    toolkit, raises :class:`ToolError`.
    """
    script = find_set_env(set_env)
    msame_path = find_msame(msame)
    if script is None:
        looked = ", ".join(str(p) for p in standard_places())
        if msame_path is not None or convert_only:
            raise ToolError(
                f"no CANN toolkit found (no set_env.sh in $ASCEND_TOOLKIT_"
                f"HOME, $ASCEND_HOME_PATH, {looked}); atc and msame need "
                "it: pass its set_env.sh")
        return STAND_IN, None, None
    if convert_only:
        return None, script, None
    if msame_path is not None:
        return "msame", script, msame_path
    if ais_bench_works(script):
        return "ais_bench", script, None
    raise ToolError(f"{script}: {no_runner_message()}")


def board_script(gears, om_name=OM_NAME):
    """``run_on_board.sh``: run the om at every gear on the board, score.

    It sits in the work folder beside ``<om_name>.om`` and ``bin/``;
    copy the three to the board.  It finds set_env.sh (or ``$SET_ENV``)
    and msame (``$MSAME`` or the PATH), checks every ``.bin``'s size,
    stops at msame's first ``[ERROR]``, and scores each gear if the
    sphereface package is installed there (else prints how to score on
    the host).
    """
    places = " ".join(f'"{p}/set_env.sh"'.replace(str(Path.home()),
                                                   "$HOME")
                      for p in standard_places())
    return f"""#!/usr/bin/env bash
# Run {om_name}.om with msame at every gear and score the results.
# Copy {om_name}.om, bin/ and this script to the board, then:
#   bash {BOARD_SCRIPT}
# MSAME=/path/to/msame if msame is not on the PATH (build it with
#   {BUILD_MSAME});
# SET_ENV=/path/to/set_env.sh if the toolkit is not in a standard place.
set -euo pipefail
cd "$(dirname "$0")"
set_env="${{SET_ENV:-}}"
for f in {places} /usr/local/Ascend/nnrt/set_env.sh; do
  if [ -z "$set_env" ] && [ -f "$f" ]; then set_env="$f"; fi
done
if [ -z "$set_env" ]; then echo "no set_env.sh found: set SET_ENV" >&2; exit 1; fi
source "$set_env"
msame="${{MSAME:-$(command -v msame || true)}}"
if [ ! -x "$msame" ]; then
  echo "msame not found: build it and set MSAME=.../tools/msame/out/msame" >&2
  exit 1
fi
for gear in {" ".join(str(g) for g in gears)}; do
  for f in bin/image_$gear/*; do
    if [ "$(stat -c %s "$f")" -ne $((gear * {bins.IMAGE_BYTES})) ]; then
      echo "$f: does not hold $gear images" >&2; exit 1
    fi
  done
  mkdir -p out
  "$msame" --model={om_name}.om --input=bin/image_$gear \\
    --output=out/gear_$gear --outfmt=TXT --dymBatch=$gear > msame_$gear.log
  if grep -q '\\[ERROR\\]' msame_$gear.log; then
    echo "msame failed at gear $gear (msame_$gear.log):" >&2
    awk '/start to process file/ {{f = $0}}
         /\\[ERROR\\]/ {{print f; print; exit}}' msame_$gear.log >&2
    exit 1
  fi
  run=$(ls -td out/gear_$gear/*/ | head -n 1)  # msame's new stamp folder
  echo "gear $gear: $run"
  score="python3 -m sphereface.ascend accuracy --label-folder bin/label_$gear --predict-folder $run"
  if python3 -c "import sphereface.ascend" 2>/dev/null; then $score
  else echo "  copy out/ back to the host and run there: $score"; fi
done
"""


def _run_gear(route, gear, work, om, script, msame, pb, env):
    image_dir = bins.bin_dirs(work / "bin", gear)[0]
    output_dir = work / "out" / f"gear_{gear}"
    if route == "msame":
        return tools.run_msame(msame, script, om, image_dir, output_dir,
                               gear, env=env)
    if route == "ais_bench":
        return tools.run_ais_bench(script, om, image_dir, output_dir, gear,
                                   env=env)
    return tools.run_pb_like_msame(pb, image_dir, output_dir, gear)


def format_records(records):
    """The table that :func:`deploy` prints."""
    lines = [" gear  route         correct   total  accuracy %"]
    lines += [f"{r['gear']:5d}  {r['route']:12s}  {r['correct']:7d}  "
              f"{r['total']:6d}  {100 * r['accuracy']:10.2f}"
              for r in records]
    return "\n".join(lines)


def deploy(pb, work, images, labels, gears=tools.GEARS,
           soc_version="Ascend310", msame=None, set_env=None,
           convert_only=False, overwrite=False, log=print):
    """Convert, compile, run and score the test set at every gear.

    ``images`` float ``[n, 28, 28, 1]`` in [0, 1], ``labels`` ``[n]``.
    Returns a :class:`Deployment`; writes ``work/deployment.json`` (one
    record per gear: gear, route, precision, correct, total, accuracy)
    and, when atc ran, ``work/run_on_board.sh``.  ``convert_only``
    stops after atc (a host without the device).  Every size, folder and
    tool is checked before a tool runs.
    """
    pb = Path(pb).resolve()
    if not pb.is_file():
        raise FileNotFoundError(f"{pb}: no such frozen graph")
    gears = _check_gears(gears)
    route, script, msame_path = choose_route(set_env, msame, convert_only)
    work = _prepare_work(work, overwrite)
    if route == STAND_IN:
        log("NO NPU WAS USED: no CANN toolkit here, so the .pb runs on "
            "the CPU and writes msame's file layout (route "
            f"'{STAND_IN}').")
    for gear in gears:
        manifest = bins.convert_to_bin(images, labels, work / "bin", gear,
                                       overwrite=overwrite)
        tools.check_bins(bins.bin_dirs(work / "bin", gear)[0], gear)
    log(f"{manifest['samples']} test images as .bin at gears "
        f"{', '.join(map(str, gears))} in {work / 'bin'}")
    env = {"ASCEND_PROCESS_LOG_PATH": str(work / "log")}  # not ~/ascend
    om = board = None
    if script is not None:
        log(f"sourcing {script}")
        om = tools.run_atc(script, work, env=env, model=pb, output=OM_NAME,
                           soc_version=soc_version,
                           dynamic_batch_size=gears)
        board = work / BOARD_SCRIPT
        board.write_text(board_script(gears))
        board.chmod(0o755)
        log(f"atc: {om.name}; {board.name} runs it on a board")
    if route is None:
        log(f"converted only: copy {om.name}, bin/ and {board.name} from "
            f"{work} to the board and run: bash {board.name}")
        return Deployment(None, [], {}, {}, om, board)
    (work / "out").mkdir(exist_ok=True)
    results, folders, records = {}, {}, []
    precision = "float32" if route == STAND_IN else "force_fp16"
    for gear in gears:
        folder = _run_gear(route, gear, work, om, script, msame_path, pb,
                           env)
        result = scoring.accuracy(bins.bin_dirs(work / "bin", gear)[1],
                                  folder)
        for note in result.notes:
            log(f"gear {gear}: {note}")
        results[gear], folders[gear] = result, folder
        records.append({"gear": gear, "route": route,
                        "precision": precision, "correct": result.correct,
                        "total": result.total,
                        "accuracy": result.accuracy})
    (work / RESULTS).write_text(json.dumps(records, indent=1) + "\n")
    log(format_records(records))
    if route == STAND_IN:
        log("(no NPU was used: the CPU stand-in ran every gear)")
    return Deployment(route, records, results, folders, om, board)

