"""Data in: validation of the accepted layouts, held-out splits and windows; spike times
binned to counts (:func:`bin_spikes`)."""
from .layout import SequenceData, eval_sequences, prepare_data, split_heldout, windows
from .spikes import bin_spikes

__all__ = ["SequenceData", "prepare_data", "split_heldout", "eval_sequences", "windows", "bin_spikes"]
