"""Training throughput of Chapter_2_1's autoencoder on this machine.

    python bench/bench_autoencoder.py               # all variants, 12,800 samples x 4 epochs
    python bench/bench_autoencoder.py --samples 60000 --epochs 3 --variants script

Variants (same network, optimizer, batch size 128, shuffled every epoch):
  script    what Chapter_2_1.py runs (and the printed listing): model.fit on
            in-memory numpy arrays, shuffle=True
  tensors   the same model fed from batches already made as tensors in
            memory (only the batch order is shuffled): the reference for what
            the input pipeline costs

Prints steady-state samples/s (median of the epochs after the first) and the
estimated time of the chapter's full run (50 epochs x 60,000 digits).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import chapter2  # noqa: E402,F401  (quiet TensorFlow before it loads)
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import Chapter_2_1 as ch  # noqa: E402
from chapter2.standins import digits  # noqa: E402


class Timer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.t0 = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.t0)


def measure(variant, x, epochs):
    keras.utils.set_random_seed(0)
    model = ch.build_model()
    model.compile(optimizer=ch.make_optimizer(), loss="binary_crossentropy")
    timer = Timer()
    if variant == "tensors":
        batches = tf.data.Dataset.from_tensor_slices((x, x)).batch(ch.BATCH_SIZE).cache()
        data = batches.shuffle(len(x) // ch.BATCH_SIZE + 1)
        # The cache holds the batches after the first epoch, so later epochs
        # only hand tensors that already exist to the training step.
        model.fit(data, epochs=epochs, shuffle=False, verbose=0, callbacks=[timer])
    else:
        model.fit(x, x, batch_size=ch.BATCH_SIZE, epochs=epochs, shuffle=True, verbose=0, callbacks=[timer])
    steady = statistics.median(timer.seconds[1:] or timer.seconds)
    return len(x) / steady


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=12800)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--variants", default="script,tensors")
    args = parser.parse_args()
    (x, _), _ = digits.synthetic_mnist(seed=0, n_train=args.samples, n_test=1)
    x = ch.to_images(x)
    print(f"autoencoder training, batch {ch.BATCH_SIZE}, {args.samples} samples x {args.epochs} epochs, "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    results = {}
    for variant in args.variants.split(","):
        rate = results[variant] = measure(variant, x, args.epochs)
        full = 50 * 60000 / rate
        print(f"  {variant:8s} {rate:7.0f} samples/s   full run (50 x 60,000): {full / 60:5.1f} min", flush=True)
    if "tensors" in results and "script" in results:
        print(f"  input pipeline cost (script vs tensors): {100 * (1 - results['script'] / results['tensors']):.1f}%")


if __name__ == "__main__":
    main()
