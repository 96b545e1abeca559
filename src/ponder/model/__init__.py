"""The nano transformer, its tokenizer, and model files."""

from ponder.model.io import load_model, save_model
from ponder.model.tokenizer import Tokenizer
from ponder.model.transformer import ModelConfig, Transformer

__all__ = ["ModelConfig", "Tokenizer", "Transformer", "load_model", "save_model"]
