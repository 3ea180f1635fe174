"""``python -m sphereface.ascend``: convert-bin, accuracy, and the tools.

The earlier public scripts' flags still work after the subcommand
(``convert-bin --dataset_path=... --bin_path=... --batch_size=...``,
``accuracy --LABEL_FLODER=... --PREDICT_FLODER=...``), beside clearer
aliases.  Bad input exits with status 2 and a message naming the file.
"""

import argparse
import shlex
import sys

from sphereface.ascend import bins, scoring, tools


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
    result = scoring.accuracy(args.label_dir, args.predict_dir)
    print(result)
    for index, label, predicted in result.errors[:args.show_errors]:
        print(f"  sample {index}: label {label}, predicted {predicted}")


def _atc(args):
    print(shlex.join(tools.atc_command(
        model=args.model, output=args.output, soc_version=args.soc_version,
        precision_mode=args.precision_mode)))


def _msame(args):
    print(shlex.join(tools.msame_command(args.model, args.input,
                                         args.output, args.batch_size)))


def _run_cpu(args):
    folder = tools.run_pb_like_msame(args.pb, args.input, args.output,
                                     args.batch_size)
    print("msame's output layout, written by the .pb on the CPU:")
    print(folder)


def parser():
    top = argparse.ArgumentParser(prog="python -m sphereface.ascend",
                                  description=__doc__.splitlines()[0])
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert-bin", help="MNIST test set -> .bin files")
    p.add_argument("--dataset_path", "--dataset-path", default=None,
                   help="folder of the MNIST IDX files (default: search)")
    p.add_argument("--bin_path", "--bin-path", default="./bin")
    p.add_argument("--batch_size", "--batch-size", type=int, default=1)
    p.add_argument("--count", type=int, default=None,
                   help="first N test images (default: all 10,000)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace files an earlier conversion wrote")
    p.set_defaults(run=_convert)

    p = sub.add_parser("accuracy", help="score msame's TXT output")
    p.add_argument("--LABEL_FLODER", "--label-dir", dest="label_dir",
                   required=True)
    p.add_argument("--PREDICT_FLODER", "--predict-dir", dest="predict_dir",
                   required=True)
    p.add_argument("--show-errors", type=int, default=0,
                   help="list the first N misclassified samples")
    p.set_defaults(run=_accuracy)

    p = sub.add_parser("atc-command", help="print the atc command")
    p.add_argument("--model", default="sphereface.pb")
    p.add_argument("--output", default="sphereface")
    p.add_argument("--soc_version", "--soc-version", default="Ascend310")
    p.add_argument("--precision_mode", "--precision-mode",
                   default="force_fp16")
    p.set_defaults(run=_atc)

    p = sub.add_parser("msame-command", help="print the msame command")
    p.add_argument("--model", default="sphereface.om")
    p.add_argument("--input", default="bin/image_1")
    p.add_argument("--output", default="out")
    p.add_argument("--batch_size", "--batch-size", "--dymBatch", type=int,
                   default=1)
    p.set_defaults(run=_msame)

    p = sub.add_parser("run-cpu", help="run the .pb like msame, on the CPU")
    p.add_argument("--pb", default="sphereface.pb")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--batch_size", "--batch-size", type=int, required=True)
    p.set_defaults(run=_run_cpu)
    return top


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (OSError, ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
