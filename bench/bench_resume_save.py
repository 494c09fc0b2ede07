"""Time one resume point: a TensorFlow checkpoint against Keras' save_weights.

    python bench/bench_resume_save.py                  # Chapter_2_3's network, 3 saves each
    python bench/bench_resume_save.py --script Chapter_2_2 --repeat 5

Builds the script's network, compiles it with adam and trains one step (so
that adam's two moments exist: the state a resume point holds is three
times the weights), then writes it alternately with ``model.save_weights``
(``.weights.h5``) and with ``tf.train.Checkpoint.write`` (what
chapter2/run/resume.py writes), into a fresh folder under runs/, pausing
between saves as training does. Prints each save's seconds and one JSON line.
"""

import argparse
import importlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from chapter2.run import console  # noqa: E402

console.quiet()  # TensorFlow's start-up lines are not the benchmark's
from chapter2.run import device  # noqa: E402

device.prepare()

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--script", default="Chapter_2_3", help="Chapter_2_2 or Chapter_2_3 (default)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="saves of each kind (default 3)")
    parser.add_argument(
        "--pause", type=float, default=3.0, help="seconds between saves (default 3)"
    )
    args = parser.parse_args(argv)
    script = importlib.import_module(args.script)
    model = script.build_model()
    model.compile(optimizer="adam", loss="mse")
    frames = np.random.default_rng(0).integers(0, 256, (8, 120, 160, 3), dtype=np.uint8)
    model.fit(frames, np.zeros((8, 1), "float32"), epochs=1, verbose=0)
    state = sum(int(np.prod(v.shape)) * 4 for v in model.weights + model.optimizer.variables)
    (ROOT / "runs").mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="bench-resume-save-", dir=ROOT / "runs"))
    checkpoint = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    times = {"save_weights": [], "checkpoint": []}
    try:
        for i in range(args.repeat):
            for kind in times:
                time.sleep(args.pause)
                started = time.perf_counter()
                if kind == "save_weights":
                    model.save_weights(str(folder / f"point-{i}.weights.h5"))
                else:
                    checkpoint.write(str(folder / f"point-{i}.ckpt"))
                times[kind].append(time.perf_counter() - started)
                print(f"{kind:13s} {state / 1e6:,.0f} MB  {times[kind][-1]:.2f} s", flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        json.dumps(
            {
                "script": args.script,
                "state_bytes": state,
                **{f"{kind}_s": [round(t, 3) for t in ts] for kind, ts in times.items()},
                **{
                    f"{kind}_median_s": round(float(np.median(ts)), 3) for kind, ts in times.items()
                },
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
