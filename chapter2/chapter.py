"""The settings each script ships with: the chapter's values and the project's own defaults.

Kept once, here, so that a run's changes are measured against them: an
exercise done by editing a constant at the top of a script is named, logged
and compared exactly as one done with a flag (the console says which changes
came from the file). tests/test_kit.py checks that the scripts as shipped
hold exactly these values.
"""

SETTINGS = {
    "Chapter_2_1": {
        "FILTERS": (16, 8, 8),
        "KERNEL_SIZE": 3,
        "POOLING": (True, True, True),
        "OPTIMIZER": "adadelta",
        "LEARNING_RATE": 1.0,
        "EPOCHS": 50,
        "BATCH_SIZE": 128,
        "TRAIN_DIGITS": 60000,
        "TEST_DIGITS": 10000,
        "SHOW_DIGITS": 10,
    },
    "Chapter_2_2": {
        "FILTERS": (8, 16, 32),
        "KERNEL_SIZE": 3,
        "STRIDES": 1,
        "POOL_SIZE": 2,
        "POOLING": (True, True, True),
        "DENSE": 256,
        "DROPOUT": 0.2,
        "EPOCHS": 4,
        "BATCH_SIZE": 64,
        "PATIENCE": 5,
        "VALIDATION_SPLIT": 0.1,
        "TEST_SPLIT": 0.1,
        "MIRROR": True,
        "SIM_FRAMES": 8000,
        "DRIVE_SECONDS": 60.0,
        "JIT_COMPILE": False,
    },
    "Chapter_2_3": {
        "FILTERS": (8, 16, 32),
        "KERNEL_SIZE": 3,
        "STRIDES": 1,
        "POOL_SIZE": 2,
        "POOLING": True,
        "DENSE": 256,
        "DROPOUT": 0.5,
        "EPOCHS": 10,
        "BATCH_SIZE": 64,
        "PATIENCE": 5,
        "LEARNING_RATE": 3e-05,
        "WARMUP_STEPS": 5,
        "VALIDATION_SPLIT": 0.1,
        "TEST_SPLIT": 0.1,
        "MIRROR": True,
        "SIM_FRAMES": 8000,
        "DRIVE_SECONDS": 60.0,
        "JIT_COMPILE": False,
    },
    "Chapter_2_4": {
        "SEQ_LENGTH": 1,
        "WINDOW_AS": "timesteps",
        "UNITS": 32,
        "STATEFUL": False,
        "EPOCHS": 500,
        "BATCH_SIZE": 1,
        "PREDICT_LETTERS": 3,
        "FAST_FIT": True,
        "BACKUP_EVERY": 100,
    },
    "Chapter_2_5": {
        "LSTM_UNITS": (64, 64, 64),
        "ACTIVATION": "tanh",
        "DENSE_UNITS": (64, 64),
        "EPOCHS": 50,
        "BATCH_SIZE": 32,
        "LEARNING_RATE": 0.005,
        "WINDOW": 150,
        "ROTATE": True,
        "DATA_FILE": "data.txt",
        "ONE_HOT": True,
        "MIN_GAME_MOVES": 10,
        "HELD_OUT_GAMES": 50,
        "VALIDATION_GAME": (
            "100101000110221110101002201101101101002201011012222210221011011101011122110010101010101"
        ),
        "TEST_MOVES": "000111222",
        "MODEL_FILE": "RPS_model.h5",
        "VERSUS_GAMES": 10,
        "VERSUS_MOVES": 100,
        "VERSUS_NOISE": 0.1,
        "NGRAM_K": 3,
        "FRESH_GAMES": 20,
        "FRESH_MOVES": 100,
    },
}


def shipped(script):
    """{constant: value} a script ships with (its file name without .py), or None if unknown."""
    return SETTINGS.get(script)
