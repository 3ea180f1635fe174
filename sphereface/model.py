"""Backbones that map a 28x28x1 image to an embedding, and the models.

The embedding layer is linear: SphereFace removed the ReLU after it,
because a ReLU confines every feature to the positive orthant and so
wastes most of the sphere.
"""

import keras
from keras import layers

from sphereface.margins import MarginHead

IMAGE_SHAPE = (28, 28, 1)
BACKBONES = ("small", "resnet20")


def _conv_relu(x, filters, size=3):
    return layers.Conv2D(filters, size, padding="same",
                         activation="relu")(x)


def _dropout(x, rate):
    """Dropout on the flattened conv features (none at ``rate`` 0)."""
    return layers.Dropout(rate)(x) if rate else x


def small_cnn(embedding_dim, dropout=0.0):
    """A 5-conv network that reaches >99.5% on MNIST on a laptop CPU.

    About 12 MFLOP per image forward (``benchmark.forward_flops``), so
    an epoch takes about a minute on two CPU cores.  No batch
    normalisation: in runs this short its moving statistics lag the
    weights (test accuracy in inference mode fell far below training
    accuracy), and on a 2-core CPU it halved the training throughput.
    """
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = _conv_relu(image, 16, 5)
    x = layers.MaxPooling2D()(x)
    for filters in (32, 64):
        x = _conv_relu(x, filters)
        x = _conv_relu(x, filters)
        x = layers.MaxPooling2D()(x) if filters == 32 else x
    x = _dropout(layers.Flatten()(x), dropout)
    x = layers.Dense(128, activation="relu")(x)
    embedding = layers.Dense(embedding_dim, name="embedding")(x)
    return keras.Model(image, embedding, name="small_cnn")


def _residual_unit(x, filters):
    shortcut = x
    for _ in range(2):
        x = layers.Conv2D(filters, 3, padding="same")(x)
        x = layers.PReLU(shared_axes=[1, 2])(x)
    return layers.Add()([shortcut, x])


def sphereface20(embedding_dim, units=(1, 2, 4, 1),
                 widths=(64, 128, 256, 512), dropout=0.0):
    """The SphereFace-20 residual network with PReLU, sized for 28x28.

    Each stage halves the resolution with a strided 3x3 conv and adds
    ``units`` residual units; the embedding is a linear layer.
    Meant for readers with an accelerator: slow on a laptop CPU.
    """
    image = keras.Input(IMAGE_SHAPE, name="image")
    x = image
    for count, filters in zip(units, widths):
        x = layers.Conv2D(filters, 3, strides=2, padding="same")(x)
        x = layers.PReLU(shared_axes=[1, 2])(x)
        for _ in range(count):
            x = _residual_unit(x, filters)
    x = _dropout(layers.Flatten()(x), dropout)
    embedding = layers.Dense(embedding_dim, name="embedding")(x)
    return keras.Model(image, embedding, name="sphereface20")


def build_backbone(name, embedding_dim, dropout=0.0):
    """``small`` or ``resnet20`` -> Keras model image -> embedding.

    ``dropout``: the fraction of the flattened conv features dropped
    while training (no layer at 0).
    """
    if name == "small":
        return small_cnn(embedding_dim, dropout)
    if name == "resnet20":
        return sphereface20(embedding_dim, dropout=dropout)
    raise ValueError(f"backbone={name!r}; expected one of {BACKBONES}")


def inference_model(backbone, head):
    """Images only -> ``{"embedding": [b, dim], "logits": [b, classes]}``.

    The logits are the head's prediction logits (cosine logits for every
    kind but softmax), so predicting needs no label.
    """
    image = keras.Input(IMAGE_SHAPE, name="image")
    embedding = backbone(image, training=False)
    return keras.Model(image, {"embedding": embedding,
                               "logits": head(embedding)},
                       name="sphereface_inference")


def build_head(config):
    """The :class:`MarginHead` a training configuration describes."""
    return MarginHead(
        num_classes=config.num_classes, kind=config.head, m=config.m,
        margin=config.margin, scale=config.scale,
        lambda_base=config.lambda_base, lambda_gamma=config.lambda_gamma,
        lambda_power=config.lambda_power, lambda_min=config.lambda_min,
        dtype="float32")  # float32 under every policy: norms, psi, logits
