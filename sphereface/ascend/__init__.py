"""From the frozen ``.pb`` to accuracy on an Ascend NPU.

``bins`` writes the test set as msame input files, ``tools`` builds and
runs the ``atc`` and ``msame`` commands (or, where msame is absent, runs
the ``.pb`` on the CPU writing msame's exact output layout), and
``scoring`` reads msame's text output back and computes the accuracy,
correctly for any batch size.  ``python -m sphereface.ascend`` is the
command line over the same functions.
"""

from sphereface.ascend.bins import convert_to_bin, read_manifest
from sphereface.ascend.msame_format import format_txt, new_stamp_dir
from sphereface.ascend.scoring import Accuracy, accuracy
from sphereface.ascend.tools import (
    atc_command,
    infer,
    msame_command,
    run_atc,
    run_msame,
    run_pb_like_msame,
)

__all__ = ["Accuracy", "accuracy", "atc_command", "convert_to_bin",
           "format_txt", "infer", "msame_command", "new_stamp_dir",
           "read_manifest", "run_atc", "run_msame", "run_pb_like_msame"]
