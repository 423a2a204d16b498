"""plumcode: learn from executed samples (PLUM) to make code LLMs write correct programs."""

__version__ = "0.1.0"
