"""TensorBoard over the runs, without TensorFlow's start-up lines.

    python -m chapter2.board                          # the runs folder: http://localhost:6006
    python -m chapter2.board --logdir runs/chapter_2_1 --port 6007

The same TensorBoard as ``tensorboard --logdir runs`` (every argument goes
to it as is; ``--logdir runs`` when none is given), with the console
filter the scripts use (chapter2/run/console.py): TensorBoard loads
TensorFlow, whose native start-up lines (``failed call to cuInit``, ``Could
not find cuda drivers``) come before any logging setting is read, so
neither TF_CPP_MIN_LOG_LEVEL nor hiding the GPUs keeps them away.
"""

import os
import sys
from pathlib import Path

from chapter2.run import console


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(
        a.split("=")[0]
        in ("--logdir", "--logdir_spec", "-h", "--help", "--helpfull", "--version_tb")
        for a in argv
    ):
        if not Path("runs").is_dir():
            print(
                "error: no runs folder here: run a script first (python Chapter_2_1.py --quick), "
                "or pass --logdir FOLDER",
                file=sys.stderr,
            )
            return 2
        argv = ["--logdir", "runs", *argv]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    console.quiet()
    try:
        from tensorboard import main as tensorboard_main

        sys.argv = ["tensorboard", *argv]
        tensorboard_main.run_main()
    except KeyboardInterrupt:  # while TensorBoard loads; once it serves, it ends itself quietly
        print("\ninterrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
