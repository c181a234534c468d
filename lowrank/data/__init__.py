"""Data in: validation of the accepted layouts, held-out splits and windows."""
from .layout import SequenceData, eval_sequences, prepare_data, split_heldout, windows

__all__ = ["SequenceData", "prepare_data", "split_heldout", "eval_sequences", "windows"]
