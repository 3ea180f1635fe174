"""``atc``, ``msame`` and ``ais_bench``: their commands, and running them.

They come with (or are built against) Huawei's CANN toolkit and cannot
be installed from a package registry; :mod:`.toolkit` finds them.  Each
``run_`` function checks the inputs first (a dynamic-batch om does not
check a file's size on the device), reads the tool's log for errors
(msame often exits 0 on failure) and checks that every input got its
output.  Where there is no toolkit, :func:`run_pb_like_msame` runs the
frozen graph on the CPU and writes msame's exact layout.
"""

import sys
from pathlib import Path

import numpy as np

from sphereface.ascend.bins import IMAGE_BYTES
from sphereface.ascend.msame_format import (
    format_txt,
    new_stamp_dir,
    output_name,
)
from sphereface.ascend.toolkit import (
    ToolError,
    run_tool,
    which_after_sourcing,
)

ATC_SUCCESS = "ATC run success"
GEARS = (1, 4, 8, 16, 32)


def atc_command(model="sphereface.pb", output="sphereface",
                soc_version="Ascend310", input_shape="input_x:-1,28,28,1",
                out_nodes="output:0", dynamic_batch_size=GEARS,
                precision_mode="force_fp16", log="error", framework=3):
    """The ``atc`` argument list of the book's conversion.

    ``output`` is the om path without ``.om`` (atc appends it).
    ``dynamic_batch_size`` may be None for a fixed input shape.
    """
    args = ["atc", f"--model={model}", f"--framework={framework}",
            f"--output={output}", f"--soc_version={soc_version}",
            f"--input_shape={input_shape}", f"--log={log}",
            f"--out_nodes={out_nodes}"]
    if dynamic_batch_size:
        if "-1" not in input_shape.split(":")[-1].split(",")[:1]:
            raise ValueError("dynamic_batch_size needs -1 as the first "
                             f"dimension of input_shape ({input_shape})")
        gears = ",".join(str(g) for g in dynamic_batch_size)
        args.append(f"--dynamic_batch_size={gears}")
    args.append(f"--precision_mode={precision_mode}")
    return args


def run_atc(set_env, cwd, env=None, **kwargs):
    """Convert the ``.pb`` with atc after sourcing ``set_env``.

    Returns the ``.om`` path.  atc missing from the sourced PATH, or its
    success line missing, raises :class:`ToolError` with atc's output.
    Runs in ``cwd`` (atc leaves files such as ``fusion_result.json`` in
    its working folder).
    """
    if which_after_sourcing("atc", set_env) is None:
        raise ToolError(f"{set_env}: sourced, but atc is not on the PATH "
                        "it sets (is this a runtime-only install?)")
    output = Path(kwargs.get("output", "sphereface"))
    result = run_tool(atc_command(**kwargs), set_env, cwd=cwd, env=env)
    log = result.stdout + result.stderr
    if ATC_SUCCESS not in log:
        raise ToolError(f"atc failed on {kwargs.get('model')} (exit "
                        f"{result.returncode}):\n{log.strip()}")
    om = Path(cwd) / output if not output.is_absolute() else output
    candidates = sorted(om.parent.glob(om.name + "*.om"),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise ToolError(f"atc reported success but wrote no {om}.om")
    return candidates[-1]


def msame_command(model, input_dir, output_dir, batch_size=None,
                  outfmt="TXT", device=0, program="msame"):
    """The ``msame`` argument list for a folder of ``.bin`` inputs.

    Checks msame's silent pitfalls: the model path must contain ``.om``;
    a folder whose path contains ``.bin`` would be read as one file;
    ``--outfmt`` other than exactly ``TXT`` silently gives binary output.
    """
    if ".om" not in str(model):
        raise ValueError(f"{model}: msame only accepts a path with '.om'")
    if ".bin" in str(input_dir):
        raise ValueError(f"{input_dir}: msame reads a path containing "
                         "'.bin' as a single file; rename the folder")
    if outfmt not in ("TXT", "BIN"):
        raise ValueError(f"outfmt={outfmt!r}: msame knows 'TXT' and 'BIN' "
                         "(upper case)")
    args = [str(program), f"--model={model}", f"--input={input_dir}",
            f"--output={output_dir}", f"--outfmt={outfmt}",
            f"--device={device}"]
    if batch_size is not None:
        args.append(f"--dymBatch={batch_size}")
    return args


def ais_bench_command(model, input_dir, output_dir, batch_size, device=0,
                      python=sys.executable):
    """The ``python -m ais_bench`` argument list (TXT output)."""
    return [str(python), "-m", "ais_bench", "--model", str(model),
            "--input", str(input_dir), "--output", str(output_dir),
            "--outfmt", "TXT", "--dymBatch", str(batch_size),
            "--device", str(device)]


def check_bins(input_dir, batch_size):
    """The input files of a folder, each checked to hold one batch.

    msame's directory mode reads every entry not starting with '.', in
    sorted order; each must be ``batch_size`` float32 images exactly.
    """
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: no such folder")
    files = sorted(p for p in input_dir.iterdir()
                   if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{input_dir}: no input files")
    expected = batch_size * IMAGE_BYTES
    for path in files:
        size = path.stat().st_size
        if size != expected:
            raise ValueError(
                f"{path}: {size} bytes, but batch size {batch_size} needs "
                f"{expected} ({batch_size} x 28 x 28 x 1 float32)")
    return files


def _new_run_folder(output_dir, before, tool):
    after = {p for p in Path(output_dir).iterdir() if p.is_dir()}
    new = sorted(after - before)
    if len(new) != 1:
        raise ToolError(f"{output_dir}: expected one new {tool} run "
                        f"folder, found {len(new)}")
    return new[0]


def _check_outputs(folder, inputs, name_of):
    expected = {name_of(p) for p in inputs}
    found = {p.name for p in folder.iterdir()}
    missing = sorted(expected - found)
    if missing:
        raise ToolError(f"{folder}: {len(missing)} of {len(expected)} "
                        f"outputs missing, e.g. {missing[0]}")


def _first_error(log):
    """``(input file, error lines)`` of msame's first failure, or None."""
    current = None
    for line in log.splitlines():
        if "start to process file:" in line:
            current = line.split("start to process file:", 1)[1].strip()
        elif "[ERROR]" in line:
            errors = [x for x in log.splitlines() if "[ERROR]" in x]
            return current, "\n".join(errors[:5])
    return None


def _output_dir(output_dir):
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    return output_dir, {p for p in output_dir.iterdir() if p.is_dir()}


def run_msame(msame, set_env, model, input_dir, output_dir, batch_size,
              env=None):
    """Run msame on a folder of inputs; return its new run folder.

    The inputs' sizes are checked first.  An ``[ERROR]`` in msame's log
    (often with exit status 0) raises :class:`ToolError` naming the
    input file that failed; so does a missing output.
    """
    inputs = check_bins(input_dir, batch_size)
    output_dir, before = _output_dir(output_dir)
    result = run_tool(msame_command(model, input_dir, output_dir,
                                    batch_size, program=msame),
                      set_env, env=env)
    log = result.stdout + result.stderr
    failure = _first_error(log)
    if failure or result.returncode != 0:
        where = failure[0] if failure and failure[0] else model
        detail = failure[1] if failure else log.strip()[-2000:]
        raise ToolError(f"msame failed on {where} (exit "
                        f"{result.returncode}):\n{detail}")
    folder = _new_run_folder(output_dir, before, "msame")
    _check_outputs(folder, inputs, output_name)
    return folder


def run_ais_bench(set_env, model, input_dir, output_dir, batch_size,
                  env=None):
    """Run ``python -m ais_bench`` on a folder of inputs; its run folder.

    ais_bench writes ``<stem up to the first '.'>_0.txt`` into a
    ``%Y_%m_%d-%H_%M_%S`` folder (and a summary file beside it); it
    raises on failure, so a non-zero exit is the error.
    """
    inputs = check_bins(input_dir, batch_size)
    output_dir, before = _output_dir(output_dir)
    result = run_tool(ais_bench_command(model, input_dir, output_dir,
                                        batch_size), set_env, env=env)
    if result.returncode != 0:
        log = (result.stdout + result.stderr).strip()[-2000:]
        raise ToolError(f"ais_bench failed on {input_dir} (exit "
                        f"{result.returncode}):\n{log}")
    folder = _new_run_folder(output_dir, before, "ais_bench")
    _check_outputs(folder, inputs,
                   lambda p: p.name.split(".")[0] + "_0.txt")
    return folder


def run_pb_like_msame(pb, input_dir, output_dir, batch_size,
                      outputs=("output",)):
    """Run the frozen graph on the CPU, writing msame's exact layout.

    One ``<input name>_output_<k>.txt`` per input file, in a new
    timestamped folder inside ``output_dir``; returns that folder.
    Each input must hold exactly ``batch_size`` float32 images.
    """
    from sphereface.export import run_pb

    inputs = check_bins(input_dir, batch_size)
    images = np.concatenate([np.fromfile(p, np.float32) for p in inputs])
    images = images.reshape(-1, 28, 28, 1)
    results = run_pb(pb, images, batch_size, outputs)
    folder = new_stamp_dir(output_dir)
    for i, path in enumerate(inputs):
        rows = slice(i * batch_size, (i + 1) * batch_size)
        for k, values in enumerate(results):
            (folder / output_name(path, k)).write_text(
                format_txt(values[rows]))
    return folder
