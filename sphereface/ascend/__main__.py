"""python -m sphereface.ascend: the test set to .bin, atc, msame, accuracy.

deploy runs the whole path at every batch gear; the other commands do
one step each.  The earlier scripts' flags (--dataset_path, --bin_path,
--batch_size, --LABEL_FLODER, --PREDICT_FLODER) still work.  Exit
status: 0 success, 1 failure (the message names the file), 2 bad usage.
"""

import argparse
import shlex
import sys

from sphereface.ascend import bins, deployment, scoring, tools


def _convert(args):
    from sphereface.data import load_mnist

    (_, _), (images, labels) = load_mnist(args.dataset_path)
    if args.count is not None:
        images, labels = images[:args.count], labels[:args.count]
    manifest = bins.convert_to_bin(images, labels, args.bin_path,
                                   args.batch_size, args.overwrite)
    image_dir, label_dir = bins.bin_dirs(args.bin_path, args.batch_size)
    print(f"wrote {manifest['files']} files of {args.batch_size} images "
          f"({manifest['samples']} samples, {manifest['padded']} padding) "
          f"to {image_dir} and labels to {label_dir}")


def _accuracy(args):
    result = scoring.accuracy(args.label_folder, args.predict_folder)
    for note in result.notes:
        print(f"note: {note}")
    print(result)
    for index, label, predicted in result.errors[:args.show_errors]:
        print(f"  sample {index}: label {label}, predicted {predicted}")


def _deploy(args):
    from sphereface.data import load_mnist

    (_, _), (images, labels) = load_mnist(args.dataset_path)
    if args.count is not None:
        images, labels = images[:args.count], labels[:args.count]
    done = deployment.deploy(
        args.pb, args.work, images, labels, gears=args.gears,
        soc_version=args.soc_version, msame=args.msame,
        set_env=args.set_env, convert_only=args.convert_only,
        overwrite=args.overwrite)
    if done.records:
        print(f"records: {args.work}/{deployment.RESULTS}")


def _atc(args):
    print(shlex.join(tools.atc_command(
        model=args.model, output=args.output, soc_version=args.soc_version,
        precision_mode=args.precision_mode)))


def _msame(args):
    print(shlex.join(tools.msame_command(args.model, args.input,
                                         args.output, args.batch_size)))


def _run_cpu(args):
    try:
        folder = tools.run_pb_like_msame(args.pb, args.input, args.output,
                                         args.batch_size)
    except KeyError as exc:  # TensorFlow: no such tensor in the graph
        raise ValueError(f"{args.pb}: {exc.args[0]}") from exc
    print("msame's output layout, written by the .pb on the CPU "
          "(no NPU was used):")
    print(folder)


def _gears(text):
    try:
        return [int(g) for g in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: comma-separated whole numbers, e.g. 1,4,8,16,32")


def _option(parser, shown, *hidden, required=False, **kwargs):
    """Add ``shown`` with help and default; ``hidden`` spellings too.

    ``required`` is checked after parsing (by :func:`main`), so that a
    hidden spelling satisfies it.
    """
    dest = kwargs.pop("dest", shown.lstrip("-").replace("-", "_"))
    text = kwargs.pop("help")
    if required:
        text += " (required)"
        parser.set_defaults(required=parser.get_default("required") +
                            [(dest, shown)])
    elif kwargs.get("action") != "store_true" and "default:" not in text:
        text += " (default: %(default)s)"
    parser.add_argument(shown, dest=dest, help=text, **kwargs)
    kwargs.pop("default", None)
    for alias in hidden:
        parser.add_argument(alias, dest=dest, help=argparse.SUPPRESS,
                            default=argparse.SUPPRESS, **kwargs)


def _command(sub, name, run, text):
    p = sub.add_parser(name, help=text, description=text)
    p.set_defaults(run=run, required=[], parser=p)
    return p


def _dataset_options(p):
    _option(p, "--dataset-path", "--dataset_path", default=None,
            help="folder of the MNIST IDX files (default: $MNIST_DATA, "
                 "./MNIST_data, the Keras cache)")
    _option(p, "--count", type=int, default=None,
            help="use the first N test images (default: all 10,000)")


def parser():
    top = argparse.ArgumentParser(prog="python -m sphereface.ascend",
                                  description=__doc__.split("\n\n")[0])
    sub = top.add_subparsers(dest="command", required=True,
                             metavar="command")

    p = _command(sub, "deploy", _deploy, "the test set through atc and "
                 "msame (or ais_bench) at every gear, scored; the CPU "
                 "stand-in where there is no CANN toolkit")
    _option(p, "--pb", required=True, help="the frozen graph (.pb)")
    _option(p, "--work", required=True,
            help="folder for everything this writes")
    _dataset_options(p)
    _option(p, "--soc-version", "--soc_version", default="Ascend310",
            help="atc --soc_version, from npu-smi info")
    _option(p, "--gears", type=_gears, default=",".join(map(str, tools.GEARS)),
            help="batch gears, comma-separated")
    _option(p, "--msame", default=None,
            help="msame's path (default: $MSAME, then the PATH)")
    _option(p, "--set-env", "--set_env", default=None,
            help="the toolkit's set_env.sh (default: found in "
                 "$ASCEND_TOOLKIT_HOME, $ASCEND_HOME_PATH, "
                 "/usr/local/Ascend/ascend-toolkit, "
                 "~/Ascend/ascend-toolkit, /usr/local/Ascend/cann)")
    _option(p, "--convert-only", action="store_true",
            help="stop after atc (convert here, run on a board)")
    _option(p, "--overwrite", action="store_true",
            help="replace an earlier run in --work")

    p = _command(sub, "convert-bin", _convert,
                 "the MNIST test set as msame's .bin input files")
    _dataset_options(p)
    _option(p, "--bin-path", "--bin_path", default="./bin",
            help="folder for image_{bs}/ and label_{bs}/")
    _option(p, "--batch-size", "--batch_size", type=int, default=1,
            help="images per .bin file")
    _option(p, "--overwrite", action="store_true",
            help="replace files an earlier conversion wrote")

    p = _command(sub, "accuracy", _accuracy,
                 "score msame's or ais_bench's TXT output")
    _option(p, "--label-folder", "--LABEL_FLODER", "--label-dir",
            required=True, help="the converted labels, bin/label_{bs}")
    _option(p, "--predict-folder", "--PREDICT_FLODER", "--predict-dir",
            required=True,
            help="the tool's --output folder (one run) or its run folder")
    _option(p, "--show-errors", type=int, default=0,
            help="list the first N misclassified samples")

    p = _command(sub, "atc-command", _atc, "print the atc command")
    _option(p, "--model", default="sphereface.pb", help="the frozen graph")
    _option(p, "--output", default="sphereface",
            help="the om path without .om")
    _option(p, "--soc-version", "--soc_version", default="Ascend310",
            help="from npu-smi info")
    _option(p, "--precision-mode", "--precision_mode",
            default="force_fp16", help="atc --precision_mode")

    p = _command(sub, "msame-command", _msame, "print the msame command")
    _option(p, "--model", default="sphereface.om", help="the om")
    _option(p, "--input", default="bin/image_1", help="folder of .bin")
    _option(p, "--output", default="out", help="msame --output")
    _option(p, "--batch-size", "--batch_size", "--dymBatch", type=int,
            default=1, help="the gear (msame --dymBatch)")

    p = _command(sub, "run-cpu", _run_cpu,
                 "run the .pb on the CPU, writing msame's output layout")
    _option(p, "--pb", default="sphereface.pb", help="the frozen graph")
    _option(p, "--input", required=True, help="folder of .bin files")
    _option(p, "--output", required=True,
            help="parent of the new run folder")
    _option(p, "--batch-size", "--batch_size", type=int, required=True,
            help="images per .bin file")
    return top


def main(argv=None):
    top = parser()
    args = top.parse_args(argv)
    for dest, shown in args.required:
        if getattr(args, dest, None) is None:
            args.parser.error(f"the argument {shown} is required")
    try:
        args.run(args)
    except Exception as exc:  # noqa: BLE001 - a message, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
