"""Writes of the inference app, one module per topic: predict, feedback,
batch, stream, retention."""
