"""Reference implementations of the Deep Learning Specialization models."""

__version__ = "0.1.0"
