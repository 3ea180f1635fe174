"""From the frozen ``.pb`` to accuracy on an Ascend NPU.

``bins`` writes the test set as msame input files, ``toolkit`` finds
the CANN toolkit's ``set_env.sh``, msame and ais_bench where users have
them, ``tools`` builds and runs the ``atc``, ``msame`` and ``ais_bench``
commands (or, without a toolkit, runs the ``.pb`` on the CPU writing
msame's exact output layout), ``scoring`` reads their text output back
and computes the accuracy, correctly for any batch size, and ``deploy``
does the whole path at every gear.  ``python -m sphereface.ascend`` is
the command line over the same functions.
"""

from sphereface.ascend.bins import convert_to_bin, read_manifest
from sphereface.ascend.deployment import Deployment, deploy
from sphereface.ascend.msame_format import format_txt, new_stamp_dir
from sphereface.ascend.scoring import Accuracy, accuracy
from sphereface.ascend.toolkit import (
    ToolError,
    find_msame,
    find_set_env,
)
from sphereface.ascend.tools import (
    ais_bench_command,
    atc_command,
    check_bins,
    msame_command,
    run_ais_bench,
    run_atc,
    run_msame,
    run_pb_like_msame,
)

__all__ = ["Accuracy", "Deployment", "ToolError", "accuracy",
           "ais_bench_command", "atc_command", "check_bins",
           "convert_to_bin", "deploy", "find_msame", "find_set_env",
           "format_txt", "msame_command", "new_stamp_dir", "read_manifest",
           "run_ais_bench", "run_atc", "run_msame", "run_pb_like_msame"]
