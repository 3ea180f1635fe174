"""``atc`` and ``msame``: the commands, and running them when present.

Both come with Huawei's CANN toolkit and cannot be installed from a
package registry.  Where ``msame`` is missing, :func:`run_pb_like_msame`
runs the frozen graph on the CPU and writes msame's exact layout, so the
scoring code downstream is the same either way.
"""

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import numpy as np

from sphereface.ascend.bins import IMAGE_BYTES
from sphereface.ascend.msame_format import (
    format_txt,
    new_stamp_dir,
    output_name,
)

ATC_SUCCESS = "ATC run success"
GEARS = (1, 4, 8, 16, 32)
_STANDARD_TOOLKIT = Path("/usr/local/Ascend/ascend-toolkit")


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


def _set_env_script():
    home = os.environ.get("ASCEND_TOOLKIT_HOME")
    for root in ([Path(home)] if home else []) + [_STANDARD_TOOLKIT / "latest",
                                                  _STANDARD_TOOLKIT]:
        script = root / "set_env.sh"
        if script.is_file():
            return script
    return None


def _run(args):
    """Run a CANN tool, sourcing the toolkit's set_env.sh if there is one."""
    script = _set_env_script()
    if script:
        command = f"source {shlex.quote(str(script))} && {shlex.join(args)}"
        args = ["bash", "-c", command]
    return subprocess.run(args, capture_output=True, text=True, check=False)


def run_atc(**kwargs):
    """Convert the ``.pb`` with atc; return the ``.om`` path, or None.

    Returns None (and says so) when atc is not on the PATH.  Raises with
    atc's output when the success line is missing.
    """
    if shutil.which("atc") is None:
        print("atc is not installed here (it comes with the CANN toolkit); "
              "run the command above on a machine that has it")
        return None
    args = atc_command(**kwargs)
    result = _run(args)
    log = result.stdout + result.stderr
    if ATC_SUCCESS not in log:
        raise RuntimeError(f"atc failed (exit {result.returncode}):\n{log}")
    output = Path(kwargs.get("output", "sphereface"))
    candidates = sorted(output.parent.glob(output.name + "*.om"),
                        key=lambda p: p.stat().st_mtime)
    if not candidates:
        raise RuntimeError(f"atc reported success but wrote no {output}.om")
    return candidates[-1]


def msame_command(model, input_dir, output_dir, batch_size=None,
                  outfmt="TXT", device=0):
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
    args = ["msame", f"--model={model}", f"--input={input_dir}",
            f"--output={output_dir}", f"--outfmt={outfmt}",
            f"--device={device}"]
    if batch_size is not None:
        args.append(f"--dymBatch={batch_size}")
    return args


def _input_files(input_dir):
    """msame's directory mode: every entry not starting with '.', sorted."""
    input_dir = Path(input_dir)
    if not input_dir.is_dir():
        raise FileNotFoundError(f"{input_dir}: no such folder")
    files = sorted(p for p in input_dir.iterdir()
                   if not p.name.startswith("."))
    if not files:
        raise FileNotFoundError(f"{input_dir}: no input files")
    return files


def _new_run_folder(output_dir, before):
    after = {p for p in Path(output_dir).iterdir() if p.is_dir()}
    new = sorted(after - before)
    if len(new) != 1:
        raise RuntimeError(f"{output_dir}: expected one new msame run "
                           f"folder, found {len(new)}")
    return new[0]


def _check_outputs(folder, inputs):
    expected = {output_name(p) for p in inputs}
    found = {p.name for p in folder.iterdir() if p.name.endswith(
        "_output_0.txt")}
    missing = sorted(expected - found)
    if missing:
        raise RuntimeError(f"{folder}: {len(missing)} of {len(expected)} "
                           f"outputs missing, e.g. {missing[0]}")


def run_msame(model, input_dir, output_dir, batch_size=None, device=0):
    """Run msame on a folder of inputs; return its run folder, or None.

    msame often exits 0 on failure, so its stdout is checked for
    ``[ERROR]`` and the run folder for one output per input file.
    """
    if shutil.which("msame") is None:
        return None
    inputs = _input_files(input_dir)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    before = {p for p in output_dir.iterdir() if p.is_dir()}
    result = _run(msame_command(model, input_dir, output_dir, batch_size,
                                device=device))
    if "[ERROR]" in result.stdout or result.returncode != 0:
        raise RuntimeError(f"msame failed (exit {result.returncode}):\n"
                           f"{result.stdout}{result.stderr}")
    folder = _new_run_folder(output_dir, before)
    _check_outputs(folder, inputs)
    return folder


def run_pb_like_msame(pb, input_dir, output_dir, batch_size,
                      outputs=("output",)):
    """Run the frozen graph on the CPU, writing msame's exact layout.

    One ``<input name>_output_<k>.txt`` per input file, in a new
    timestamped folder inside ``output_dir``; returns that folder.
    Each input must hold exactly ``batch_size`` float32 images.
    """
    from sphereface.export import run_pb

    inputs = _input_files(input_dir)
    expected = batch_size * IMAGE_BYTES
    for path in inputs:
        size = path.stat().st_size
        if size != expected:
            raise ValueError(
                f"{path}: {size} bytes, but batch size {batch_size} needs "
                f"{expected} ({batch_size} x 28 x 28 x 1 float32)")
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


def infer(pb, om, input_dir, output_dir, batch_size):
    """msame on the om when msame is installed, else the pb on the CPU.

    Returns ``(run_folder, how)``; ``how`` says which path ran.
    """
    folder = None
    if om is not None:
        folder = run_msame(om, input_dir, output_dir, batch_size)
    if folder is not None:
        return folder, "msame on the Ascend NPU"
    folder = run_pb_like_msame(pb, input_dir, output_dir, batch_size)
    return folder, "msame not found: the .pb on the CPU (msame's layout)"
