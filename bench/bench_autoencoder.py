"""Training throughput of Chapter_2_1's autoencoder on this machine.

    python bench/bench_autoencoder.py               # every variant, 12,800 samples x 4 epochs
    python bench/bench_autoencoder.py --samples 12800 --epochs 4 --variants script

Every variant trains the same network (batch 128, Adadelta with learning
rate 1.0, binary cross-entropy, a new shuffle every epoch) in a fresh
Python process, because TensorFlow reads its kernel choice once, at import:

  script      what Chapter_2_1.py runs: the kit's device settings
              (chapter2.run.device.prepare: oneDNN kernels) and model.fit on
              distribute.dataset's batches, as the script (a tf.data pipeline of the arrays,
              reshuffled every epoch, with tf.data's autotuning off), compiled with
              the script's steps_per_execution
  script-xla  the same with the training step XLA-compiled
              (model.compile(..., jit_compile=True))
  script-1step  the same as script with steps_per_execution=1: back to
              Python after every step, as the listing's fit
  keras-arrays  the kit's settings and model.fit on the numpy arrays
              themselves (Keras' own pipeline, tf.data autotuning on)
  tf-default  keras-arrays without the kit's device settings: what a plain
              TensorFlow program gets on this CPU
  tensors     the kit's settings, fed from batches already made as tensors
              in memory (only the batch order is shuffled): what the input
              pipeline costs
  step        the kit's settings and a bare compiled training step
              (tf.GradientTape and the Keras optimizer) over those tensors,
              no Keras fit: what fit's own machinery costs

Prints, per variant, steady-state samples/s (median over the epochs after
the first), samples per CPU-second (all threads) and the achieved GFLOP/s
(training counted as 3x the analytic forward FLOPs), then, last on stdout,
one JSON line for the first variant (train_samples_per_s: median/min/max)
with every variant under "variants". The side-by-side script reads that
line.
"""

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from childproc import measure_in_child

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ("script", "script-xla", "script-1step", "keras-arrays", "tf-default", "tensors", "step")


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def summary(values):
    return (
        {
            "median": round(statistics.median(values), 1),
            "min": round(min(values), 1),
            "max": round(max(values), 1),
            "n": len(values),
        }
        if values
        else {"median": None}
    )


def measure(variant, samples, epochs):
    """In this process: train one variant; return its figures."""
    sys.path.insert(0, str(ROOT))
    from chapter2.run import console

    console.quiet()  # TensorFlow's start-up lines are not the benchmark's
    if variant != "tf-default":
        from chapter2.run import device

        device.prepare()
    import keras
    import tensorflow as tf

    import Chapter_2_1 as ch
    from chapter2.doctor import forward_flops
    from chapter2.run import distribute
    from chapter2.standins import digits

    (x, _), _ = digits.synthetic_mnist(seed=0, n_train=samples, n_test=1)
    x = ch.to_images(x)
    keras.utils.set_random_seed(0)
    model = ch.build_model()
    model.compile(
        optimizer=ch.make_optimizer(),
        loss="binary_crossentropy",
        jit_compile=variant == "script-xla",
        steps_per_execution=ch.steps_per_execution if variant in ("script", "script-xla") else 1,
    )
    walls, cpus = [], []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0, self.c0 = time.perf_counter(), cpu_seconds()

        def on_epoch_end(self, epoch, logs=None):
            walls.append(time.perf_counter() - self.t0)
            cpus.append(cpu_seconds() - self.c0)

    batch = ch.BATCH_SIZE
    if variant.startswith("script"):
        model.fit(
            distribute.dataset(tf.distribute.get_strategy(), x, x, batch_size=batch, shuffle=True),
            epochs=epochs,
            shuffle=False,
            verbose=0,
            callbacks=[Timer()],
        )
    elif variant in ("keras-arrays", "tf-default"):
        model.fit(
            x, x, batch_size=batch, epochs=epochs, shuffle=True, verbose=0, callbacks=[Timer()]
        )
    else:
        data = tf.data.Dataset.from_tensor_slices((x, x)).batch(batch).cache()
        data = data.shuffle(len(x) // batch + 1)
        if variant == "tensors":
            model.fit(data, epochs=epochs, shuffle=False, verbose=0, callbacks=[Timer()])
        else:
            loss_fn, optimizer = keras.losses.BinaryCrossentropy(), model.optimizer

            @tf.function
            def train_step(xb, yb):
                with tf.GradientTape() as tape:
                    loss = loss_fn(yb, model(xb, training=True))
                grads = tape.gradient(loss, model.trainable_variables)
                optimizer.apply(grads, model.trainable_variables)
                return loss

            for _ in range(epochs):
                t0, c0 = time.perf_counter(), cpu_seconds()
                for xb, yb in data:
                    loss = train_step(xb, yb)
                float(loss)
                walls.append(time.perf_counter() - t0)
                cpus.append(cpu_seconds() - c0)
    flops = forward_flops(model)
    rates = [samples / w for w in walls[1:]]
    return {
        "variant": variant,
        "train_samples_per_s": summary(rates),
        "train_samples_per_cpu_s": summary([samples / c for c in cpus[1:]]),
        "flops_fwd_per_sample": flops,
        "train_gflops_per_s": round(3 * flops * statistics.median(rates) / 1e9, 2),
        "onednn": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
        "epoch_times_s": [round(w, 3) for w in walls],
    }


def child(variant, samples, epochs):
    return measure_in_child(
        __file__, ["--_child", variant, "--samples", samples, "--epochs", epochs]
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=12800)
    parser.add_argument(
        "--epochs", type=int, default=4, help="epochs per variant (the first is not timed)"
    )
    parser.add_argument(
        "--variants", default=",".join(VARIANTS), help="comma list of " + ", ".join(VARIANTS)
    )
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.epochs < 2:
        parser.error("--epochs must be at least 2 (the first is not timed)")
    if args._child:
        print(json.dumps(measure(args._child, args.samples, args.epochs)))
        return
    variants = args.variants.split(",")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variant(s) {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    print(
        f"autoencoder training, batch 128, {args.samples} samples x {args.epochs} epochs, "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start"
    )
    results = {}
    for variant in variants:
        r = results[variant] = child(variant, args.samples, args.epochs)
        rate = r["train_samples_per_s"]["median"]
        print(
            f"  {variant:10s} {rate:7.0f} samples/s  {r['train_samples_per_cpu_s']['median']:7.0f} samples/CPU-s  "
            f"{r['train_gflops_per_s']:6.2f} GFLOP/s   full run (50 x 60,000): {50 * 60000 / rate / 60:5.1f} min",
            flush=True,
        )
    first = results[variants[0]]
    print(
        json.dumps(
            dict(
                first,
                bench="2_1_ae",
                impl="project",
                samples=args.samples,
                epochs=args.epochs,
                variants=results,
            )
        )
    )


if __name__ == "__main__":
    main()
