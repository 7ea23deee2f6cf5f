"""Converters from trained models to the IR (TensorFlow is imported only inside them)."""
