"""Data in: validation of the accepted layouts, held-out splits and windows; spike times
binned to counts (:func:`bin_spikes`) and NWB files read into those layouts (:func:`read_nwb`,
needs ``pip install "lowrank[nwb]"``)."""
from .layout import SequenceData, eval_sequences, prepare_data, split_heldout, windows
from .nwb import NWBData, read_nwb
from .spikes import bin_spikes

__all__ = ["SequenceData", "prepare_data", "split_heldout", "eval_sequences", "windows", "bin_spikes",
           "read_nwb", "NWBData"]
