"""Where a training step's time goes: TensorFlow's profiler, summed per op type.

    python bench/profile_step.py --model 2_1                 # with the kit's device settings (oneDNN)
    python bench/profile_step.py --model 2_1 --tf-default    # what a plain TensorFlow program gets
    python bench/profile_step.py --model 2_2 --steps 10

Runs `--steps` compiled training steps (tf.GradientTape and the model's
Keras optimizer, one batch of random data of the chapter's shape, after 3
warm-up steps) under tf.profiler, reads the trace it writes (XPlane) and
prints, per op type, its share of all op time on TensorFlow's compute
threads and its time per step, then the share of the step's wall time that
no op covered (framework overhead and waiting). Shares, unlike
milliseconds, barely move with other work on the machine.
"""

import argparse
import collections
import glob
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chapter2.run import console  # noqa: E402

console.quiet()  # TensorFlow's start-up lines are not the benchmark's


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=("2_1", "2_2", "2_3"), default="2_1")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--top", type=int, default=12, help="op types to list")
    parser.add_argument(
        "--tf-default", action="store_true", help="without the kit's device settings"
    )
    args = parser.parse_args()
    if not args.tf_default:
        from chapter2.run import device

        device.prepare()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import numpy as np
    import tensorflow as tf
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    from chapter2.doctor import chapter_models

    keras.utils.set_random_seed(0)
    model, x, y, _ = chapter_models()[args.model][1]()
    x, y = tf.constant(x), tf.constant(np.asarray(y))

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(x=x, y=y, y_pred=model(x, training=True), training=True)
        model.optimizer.apply(
            tape.gradient(loss, model.trainable_variables), model.trainable_variables
        )
        return loss

    for _ in range(3):
        step(x, y).numpy()
    logdir = tempfile.mkdtemp(prefix="profile_step-")
    tf.profiler.experimental.start(logdir)
    t0 = time.perf_counter()
    for _ in range(args.steps):
        loss = step(x, y)
    loss.numpy()
    wall_ms = (time.perf_counter() - t0) * 1e3
    tf.profiler.experimental.stop()

    space = xplane_pb2.XSpace()
    space.ParseFromString(
        Path(sorted(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True))[-1]).read_bytes()
    )
    per_op, threads = collections.Counter(), set()
    for plane in space.planes:
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            if not line.name.startswith("tf_Compute"):
                continue
            threads.add(line.name)
            for ev in line.events:
                name = names.get(ev.metadata_id, "?").split(":")[-1].strip()
                if name in ("Process", "ParallelFor", "ExecutorDoneCallback"):
                    continue  # wrappers around the ops, not ops
                per_op[name] += ev.duration_ps / 1e9
    op_ms = sum(per_op.values())
    print(
        f"Chapter_{args.model} training step, {'TensorFlow default kernels' if args.tf_default else 'kit settings'}"
        f" (TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', 'unset')}): "
        f"{wall_ms / args.steps:.1f} ms/step wall, {op_ms / args.steps:.1f} ms/step of op time "
        f"on {len(threads)} compute threads"
    )
    for name, ms in per_op.most_common(args.top):
        print(f"  {100 * ms / op_ms:5.1f}%  {ms / args.steps:8.2f} ms/step  {name}")
    rest = op_ms - sum(ms for _, ms in per_op.most_common(args.top))
    print(f"  {100 * rest / op_ms:5.1f}%  {rest / args.steps:8.2f} ms/step  (other ops)")
    covered = min(1.0, op_ms / max(1, len(threads)) / wall_ms)
    print(
        f"op time per compute thread covers {100 * covered:.0f}% of the wall time; the rest is "
        "framework overhead, waiting between ops, or the machine running something else"
    )


if __name__ == "__main__":
    main()
