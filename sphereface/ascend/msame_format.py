"""msame's output files: names, timestamped folders, the TXT format.

Written to match msame's source (``model_process.cpp``, ``utils.cpp``):
each value is followed by one space; a newline ends every innermost row
of the output's shape, so a 1-D output ``[bs]`` is one line with no final
newline and ``[bs, C]`` is ``bs`` lines.  Floats print like C++'s default
stream (6 significant digits), integers in decimal.
"""

import datetime
from pathlib import Path

import numpy as np


def _value(v):
    if np.issubdtype(np.asarray(v).dtype, np.integer):
        return str(int(v))
    return f"{float(v):g}"


def format_txt(array):
    """The text msame writes for one output array (TXT mode)."""
    array = np.asarray(array)
    if array.ndim <= 1:
        return "".join(_value(v) + " " for v in np.atleast_1d(array))
    rows = array.reshape(-1, array.shape[-1])
    return "".join("".join(_value(v) + " " for v in row) + "\n"
                   for row in rows)


def output_name(input_file, index=0):
    """``1_image.bin`` -> ``1_image_output_0.txt`` (last extension cut)."""
    stem = Path(input_file).name
    if "." in stem:
        stem = stem[:stem.rindex(".")]
    return f"{stem}_output_{index}.txt"


def new_stamp_dir(output_dir, now=None):
    """Create msame's timestamped run folder inside ``output_dir``.

    Current msame names it year, month, day (unpadded) then
    ``_h_m_s_usec`` (unpadded): ``2023610_9_5_7_123456``.  Like msame,
    creates ``output_dir`` itself (one level) if missing.
    """
    output_dir = Path(output_dir)
    if not output_dir.parent.is_dir():
        raise FileNotFoundError(
            f"{output_dir.parent}: no such folder (msame creates only the "
            "last level of --output)")
    output_dir.mkdir(exist_ok=True)
    now = now or datetime.datetime.now()
    stamp = (f"{now.year}{now.month}{now.day}_{now.hour}_{now.minute}_"
             f"{now.second}_{now.microsecond}")
    folder = output_dir / stamp
    folder.mkdir()  # a clash raises: a run never writes into another
    return folder
