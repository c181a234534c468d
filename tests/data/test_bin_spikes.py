"""lowrank.data.bin_spikes: spike times to counts per bin, per trial or continuous."""
import numpy as np
import pytest

from lowrank.data import bin_spikes


def test_edges_are_half_open_and_a_spike_on_an_edge_opens_its_bin():
    # 0.06 / 0.02 is 2.9999999999999996 in float64: a division-based binning puts it in bin 2.
    counts = bin_spikes([np.array([0.0, 0.02, 0.06, 0.0999])], 0.02, start=0.0, stop=0.1)
    assert counts.dtype == np.int64
    assert counts[:, 0].tolist() == [1, 1, 0, 1, 1]


def test_a_spike_at_a_trials_stop_is_excluded_and_a_partial_last_bin_dropped():
    t = [np.array([0.0, 0.05, 0.099, 0.1, 0.109])]
    counts = bin_spikes(t, 0.02, trials=[[0.0, 0.1]])
    assert counts.shape == (1, 5, 1)
    assert counts[0, :, 0].tolist() == [1, 0, 1, 0, 1]             # 0.1 (the stop) not counted
    partial = bin_spikes(t, 0.02, trials=[[0.0, 0.11]])             # 5.5 bins: the half bin is dropped
    assert partial.shape == (1, 5, 1) and partial.sum() == 3


def test_a_trial_a_whole_number_of_bins_long_keeps_its_last_bin():
    # (1.0 - 0.7) / 0.1 is 2.9999999999999996: without a tolerance the trial would lose a bin.
    counts = bin_spikes([np.array([0.95])], 0.1, trials=[[0.7, 1.0]])
    assert counts.shape == (1, 3, 1) and counts[0, 2, 0] == 1


def test_unsorted_times_and_empty_units():
    rng = np.random.default_rng(0)
    t = rng.uniform(0, 10, 500)
    sorted_counts = bin_spikes([np.sort(t), np.array([])], 0.5, start=0.0, stop=10.0)
    shuffled = bin_spikes([t, []], 0.5, start=0.0, stop=10.0)
    np.testing.assert_array_equal(sorted_counts, shuffled)
    assert sorted_counts.shape == (20, 2) and sorted_counts[:, 0].sum() == 500
    assert not sorted_counts[:, 1].any()


def test_matches_a_histogram_reference():
    rng = np.random.default_rng(1)
    units = [rng.uniform(0, 5, n) for n in (0, 3, 300)]
    trials = np.array([[0.3, 1.3], [1.0, 2.5], [4.0, 5.0]])        # the first two overlap
    got = bin_spikes(units, 0.1, trials=trials)
    assert isinstance(got, list) and [g.shape for g in got] == [(10, 3), (15, 3), (10, 3)]
    for (s, e), g in zip(trials, got):
        edges = s + np.arange(len(g) + 1) * 0.1
        for j, u in enumerate(units):
            ref = np.array([np.sum((u >= a) & (u < b)) for a, b in zip(edges[:-1], edges[1:])])
            np.testing.assert_array_equal(g[:, j], ref)


def test_overlapping_trials_each_get_their_own_copy():
    t = [np.array([1.05])]
    counts = bin_spikes(t, 0.1, trials=[[1.0, 1.2], [0.9, 1.1]])
    assert counts.shape == (2, 2, 1)
    assert counts[0, :, 0].tolist() == [1, 0] and counts[1, :, 0].tolist() == [0, 1]


def test_align_and_window():
    t = [np.array([0.9, 1.0, 1.15, 3.0, 3.05])]
    counts = bin_spikes(t, 0.1, align=[1.0, 3.0], window=(0.1, 0.2))
    assert counts.shape == (2, 3, 1)
    assert counts[0, :, 0].tolist() == [1, 1, 1]
    assert counts[1, :, 0].tolist() == [0, 2, 0]


def test_continuous_defaults_run_from_the_first_to_the_last_spike_inclusive():
    counts = bin_spikes([np.array([2.0, 2.5]), np.array([2.95])], 0.5)
    assert counts.shape == (2, 2)                                   # [2, 2.5), [2.5, 3): 2.95 counted
    assert counts.tolist() == [[1, 0], [1, 1]]


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(bin_size=0.0), ValueError, "bin_size"),
    (dict(bin_size=-0.1), ValueError, "bin_size"),
    (dict(bin_size="0.1"), TypeError, "bin_size"),
    (dict(bin_size=0.1, start=1.0, stop=1.0), ValueError, "stop must be later than start"),
    (dict(bin_size=0.1, start=1.0, stop=0.5), ValueError, "stop must be later than start"),
    (dict(bin_size=0.1, start=np.nan), ValueError, "start must be a finite"),
    (dict(bin_size=0.1, trials=[[0.0, 1.0], [2.0, 1.5]]), ValueError, "trials row 1 has stop <= start"),
    (dict(bin_size=0.1, trials=[[0.0, 1.0], [1.0, 1.05]]), ValueError, "trial 1 .* shorter than one bin"),
    (dict(bin_size=0.1, trials=[[0.0, np.inf]]), ValueError, "trials contains NaN or inf"),
    (dict(bin_size=0.1, trials=[0.0, 1.0]), ValueError, "trials must be a 2-D array"),
    (dict(bin_size=0.1, align=[1.0]), ValueError, "window is required with align"),
    (dict(bin_size=0.1, align=[1.0], window=(-0.5, 1.0)), ValueError, "both >= 0"),
    (dict(bin_size=0.1, align=[1.0], window=(0.5, 1.0), trials=[[0, 1]]), ValueError, "not both"),
    (dict(bin_size=0.1, trials=[[0, 1]], start=0.0), ValueError, "start and stop"),
    (dict(bin_size=0.1, window=(0.1, 0.1)), ValueError, "window goes with align"),
])
def test_bad_arguments_are_named(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bin_spikes([np.array([0.5, 1.5])], **kwargs)


@pytest.mark.parametrize("spikes, exc, match", [
    (np.array([0.1, 0.2]), TypeError, r"spike_times must be a list .* \[times\]"),
    ([], ValueError, "spike_times is empty"),
    ([np.array([0.1, np.nan])], ValueError, r"spike_times\[0\] contains NaN or inf"),
    ([np.array([0.1]), np.array([[0.1]])], ValueError, r"spike_times\[1\] must be a 1-D"),
    ([np.array(["a"])], TypeError, r"spike_times\[0\]"),
])
def test_bad_spike_times_are_named(spikes, exc, match):
    with pytest.raises(exc, match=match):
        bin_spikes(spikes, 0.1, start=0.0, stop=1.0)


def test_no_spikes_needs_an_explicit_extent():
    with pytest.raises(ValueError, match="start is required"):
        bin_spikes([np.array([])], 0.1)
    assert bin_spikes([np.array([])], 0.1, start=0.0, stop=1.0).shape == (10, 1)


def test_decimal_edges_survive_float_rounding():
    # 3 * 0.1 is 0.30000000000000004 and 0.3 / 0.1 is 2.9999999999999996: 0.3 still opens bin 3,
    # and a trial [0.7, 1.0) at 0.1 s still has 3 bins.
    counts = bin_spikes([np.array([0.3, 0.7, 0.9999])], 0.1, trials=[[0.0, 0.5], [0.7, 1.0]])
    assert isinstance(counts, list) and [len(c) for c in counts] == [5, 3]
    assert counts[0][:, 0].tolist() == [0, 0, 0, 1, 0] and counts[1][:, 0].tolist() == [1, 0, 1]
