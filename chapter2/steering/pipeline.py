"""The steering scripts' input pipeline: batches gathered from the frames as they are needed,
mirrored on the fly."""

import numpy as np

from chapter2.run import distribute


def batches(X, Y, rows, batch_size, *, mirror=False, shuffle=False, seed=0, replicas=1):
    """A tf.data pipeline of (frames, angles) batches of the frames X[rows], and its samples
    per epoch. Each batch is gathered from the uint8 frames only when needed, so memory stays
    at one copy of the frames plus a few batches. With `mirror`, positions len(rows) to
    2*len(rows)-1 are the same frames flipped left-right with their angles negated (the book
    appends a mirrored copy of the training set instead); `shuffle` reshuffles every epoch."""
    import tensorflow as tf

    n = len(rows)
    total = 2 * n if mirror else n

    def gather(positions):
        picked = rows[positions % n]
        order = np.argsort(picked)  # reading frames in memory order is faster
        x, y = X[picked[order]], Y[picked[order]].astype(np.float32)
        flip = np.flatnonzero(positions[order] >= n)
        # Each pixel's channel bytes as one item, so that the mirror copies whole pixels.
        pixels = x.view(np.dtype((np.void, x.shape[-1]))).reshape(x.shape[:-1])
        pixels[flip] = pixels[flip, :, ::-1]
        y[flip] = -y[flip]
        return x, y

    def fetch(positions):
        x, y = tf.numpy_function(gather, [positions], (tf.uint8, tf.float32), stateful=False)
        x.set_shape((None,) + tuple(X.shape[1:]))
        y.set_shape((None,))
        return x, y

    ds = tf.data.Dataset.range(total)
    if shuffle:
        ds = ds.shuffle(total, seed=seed, reshuffle_each_iteration=True)
    # Batches of batch_size, the last one merged or made so that each of `replicas` gets a share.
    ds = distribute.cut(ds, total, batch_size, replicas).map(fetch).prefetch(2)
    return distribute.fixed(ds), total
