"""ShardedTrainer takes the same optimizer steps as plain fit."""

import keras
import numpy as np
import pytest

from chapter2.sharded import ShardedTrainer


def small_model():
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", padding="same")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.UpSampling2D()(x)
    return keras.Model(inputs, keras.layers.Conv2D(1, 3, activation="sigmoid", padding="same")(x))


@pytest.mark.parametrize("shards", [3])
def test_sharded_training_matches_plain_fit(shards):
    rng = np.random.default_rng(0)
    x = (rng.random((70, 8, 8, 1)) < 0.3).astype("float32")  # 70 = batches of 32, 32, 6
    results = []
    for n in (1, shards):
        keras.utils.set_random_seed(1)
        model = small_model()
        trainer = ShardedTrainer(model, n)
        trainer.compile(optimizer=keras.optimizers.Adadelta(1.0), loss="binary_crossentropy")
        history = trainer.fit(x, x, batch_size=32, epochs=2, shuffle=False, verbose=0,
                              validation_data=(x[:16], x[:16]))
        results.append((model.get_weights(), history.history))
    (plain_w, plain_h), (shard_w, shard_h) = results
    moved = max(float(np.abs(a - b).max()) for a, b in zip(plain_w, small_model().get_weights()))
    assert moved > 1e-3  # training did change the weights
    for a, b in zip(plain_w, shard_w):
        np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_allclose(plain_h["loss"], shard_h["loss"], rtol=1e-5)
    np.testing.assert_allclose(plain_h["val_loss"], shard_h["val_loss"], rtol=1e-5)
