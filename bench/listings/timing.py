"""What the listing ports add for timing; none of it is in the book.

The ports keep the chapter's listings as printed (with only what Keras 3
rejects fixed) and get from here: a console without TensorFlow's start-up
lines, a command line whose bad values end in one
`error: ...` line with exit status 2, a Keras callback that times each
epoch's training steps, and the one JSON line each port prints last.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

# TensorFlow's start-up lines (a CUDA library looked for on a CPU machine)
# filtered out of the console, as in the project's scripts.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from chapter2.run import console  # noqa: E402

console.quiet()


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one `error: ...` line and exit status 2."""

    def error(self, message):
        print(f"error: {message}", file=sys.stderr)
        sys.exit(2)


def at_least(minimum):
    """An argparse type: an integer >= minimum."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


def summary(values):
    """Median, min, max and count of a list of rates (None when empty)."""
    if not values:
        return {"median": None, "n": 0}
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
        "n": len(values),
    }


def make_epoch_timer(keras):
    """A callback that records each epoch's training seconds.

    An epoch's span runs from on_epoch_begin until validation starts
    (on_test_begin) or, without validation, until on_epoch_end: the
    validation pass and the listing's epoch-end callbacks (checkpoints,
    TensorBoard) stay outside it. It has no per-batch hook, so it does not
    change how Keras dispatches the training steps.
    """

    class EpochTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds, self.cpu_seconds = [], []
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start, self._cpu_start = time.perf_counter(), time.process_time()

        def _close(self):
            if self._start is not None:
                self.seconds.append(time.perf_counter() - self._start)
                self.cpu_seconds.append(time.process_time() - self._cpu_start)
                self._start = None

        def on_test_begin(self, logs=None):
            self._close()

        def on_epoch_end(self, epoch, logs=None):
            self._close()

    return EpochTimer()


def report(bench, train_samples, timer, fit_wall_s, **extra):
    """Print the port's JSON line from an epoch timer.

    Samples/s and samples per CPU-second (all the process's threads) are
    medians over the epochs after the first.
    """
    rates = [train_samples / s for s in timer.seconds[1:] if s > 0]
    per_cpu = [train_samples / c for c in timer.cpu_seconds[1:] if c > 0]
    emit(
        bench,
        train_samples_per_epoch=train_samples,
        train_samples_per_s=summary(rates),
        train_samples_per_cpu_s=summary(per_cpu),
        epoch_train_s=[round(s, 3) for s in timer.seconds],
        fit_wall_s=round(fit_wall_s, 3),
        **extra,
    )


def emit(bench, **fields):
    """Print one JSON line naming the port; the side-by-side reads the last such line."""
    record = {
        "bench": bench,
        "impl": "listing",
        **fields,
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
    }
    print(json.dumps(record), flush=True)
