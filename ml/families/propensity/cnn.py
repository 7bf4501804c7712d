"""The Keras Conv1D propensity model: convolutions and pooling over the weekly sequence, fused with
the static features. Small on purpose (a few thousand weights): it trains in minutes on 2 CPU threads.
"""
from __future__ import annotations

import os

import numpy as np

from ml.families.propensity.config import DEFAULTS, PropensityConfig

_CONFIGURED = False


def configure_tensorflow(seed: int = DEFAULTS.seed, threads: int = DEFAULTS.threads) -> None:
    """Fix seeds, make ops deterministic and cap TF at `threads` threads (shared 2-core hosts).

    Thread counts can only be set before TF's runtime starts; later calls keep the first setting.
    """
    global _CONFIGURED
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    if not _CONFIGURED:
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(threads)
        except RuntimeError:
            pass  # runtime already initialised by an earlier caller in this process
        tf.config.experimental.enable_op_determinism()
        _CONFIGURED = True
    keras.utils.set_random_seed(seed)


def build_cnn(weeks: int, n_channels: int, n_static: int, config: PropensityConfig = DEFAULTS):
    """Two Conv1D + max-pool blocks, global average and max pooling, concatenated with a dense
    projection of the static features, then one hidden layer and a sigmoid."""
    import keras
    from keras import layers

    filters = config.cnn_filters
    sequence = keras.Input((weeks, n_channels), name="sequence")
    static = keras.Input((n_static,), name="static")
    x = layers.Conv1D(filters, 4, padding="causal", activation="relu")(sequence)
    x = layers.MaxPooling1D(2)(x)
    x = layers.Conv1D(filters, 3, padding="causal", activation="relu")(x)
    x = layers.MaxPooling1D(2)(x)
    # the last pooled step summarises the most recent month, which carries most of the signal
    steps = weeks // 2 // 2
    recent = layers.Flatten()(layers.Cropping1D((steps - 1, 0), name="last_step")(x))
    pooled = layers.Concatenate()([layers.GlobalAveragePooling1D()(x), layers.GlobalMaxPooling1D()(x), recent])
    s = layers.Dense(filters, activation="relu")(static)
    h = layers.Concatenate()([pooled, s])
    h = layers.Dropout(config.cnn_dropout)(h)
    h = layers.Dense(filters, activation="relu")(h)
    out = layers.Dense(1, activation="sigmoid", name="p")(h)
    model = keras.Model([sequence, static], out, name="propensity_cnn")
    model.compile(optimizer=keras.optimizers.Adam(config.cnn_learning_rate), loss="binary_crossentropy",
                  metrics=[keras.metrics.AUC(name="auc")])
    return model


def balanced_class_weight(labels: np.ndarray) -> dict[int, float]:
    """Weights so both classes carry equal total weight (buyers are the minority)."""
    labels = np.asarray(labels)
    n, pos = len(labels), int(labels.sum())
    if pos == 0 or pos == n:
        return {0: 1.0, 1: 1.0}
    return {0: n / (2.0 * (n - pos)), 1: n / (2.0 * pos)}


def fit_cnn(seq_fit, static_fit, y_fit, seq_val, static_val, y_val, config: PropensityConfig = DEFAULTS):
    """Train with class weights and early stopping on validation AUC; returns (model, epochs_run)."""
    configure_tensorflow(config.seed, config.threads)
    import keras

    model = build_cnn(seq_fit.shape[1], seq_fit.shape[2], static_fit.shape[1], config)
    stop = keras.callbacks.EarlyStopping(monitor="val_auc", mode="max", patience=config.cnn_patience,
                                         restore_best_weights=True)
    history = model.fit({"sequence": seq_fit, "static": static_fit}, y_fit.astype("float32"),
                        validation_data=({"sequence": seq_val, "static": static_val}, y_val.astype("float32")),
                        epochs=config.cnn_max_epochs, batch_size=config.cnn_batch_size,
                        class_weight=balanced_class_weight(y_fit),
                        callbacks=[stop], shuffle=True, verbose=0)
    return model, len(history.history["loss"])


def predict_cnn(model, sequences: np.ndarray, static: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    return model.predict({"sequence": sequences, "static": static}, batch_size=batch_size, verbose=0).reshape(-1)
