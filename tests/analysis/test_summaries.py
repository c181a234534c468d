"""Result containers print a short summary (key numbers and array shapes), never raw arrays."""
import numpy as np

import lowrank
from lowrank._summary import short
from lowrank.analysis.evaluation import Evaluation
from lowrank.metrics.spikes import compare_spike_statistics
from lowrank.training.history import FitResult, History

BIG = 5000                                                 # numpy would print such an array with "..." and numbers


def _no_raw_arrays(text):
    assert "array([" not in text and "..." not in text and len(text) < 1200, text


def _history(n=BIG):
    val = np.full(n, np.nan)
    val[::10] = np.linspace(-3.0, -1.25, len(val[::10]))
    return History(train_elbo=np.linspace(-5.0, -1.5, n), val_elbo=val, lr=np.full(n, 1e-2),
                   grad_norm=np.ones(n), time=np.linspace(0.1, 42.0, n), final_val_elbo=-1.2, stop_reason="completed")


def test_short_forms():
    assert short(np.zeros((3, 4))) == "<array (3, 4)>" and short(np.zeros(2, np.int64)) == "<int64 array (2,)>"
    assert short(np.float64(-1.23456)) == "-1.235" and short(np.array(7)) == "7" and short(True) == "True"
    assert short("x") == "'x'"


def test_history_and_fit_result_summaries():
    h = _history()
    text = repr(h)
    _no_raw_arrays(text)
    for part in (f"n_iter={BIG}", "last_train_elbo=-1.5", "best_val_elbo=-1.25", "seconds=42",
                 "final_val_elbo=-1.2", "stop_reason='completed'", f"train_elbo=<array ({BIG},)>"):
        assert part in text, (part, text)
    res = FitResult(model=lowrank.LowRankRNN(6, 2, 3), history=h, n_iter=BIG, best_elbo=-1.23456,
                    best_iteration=4990, best_source="heldout", stop_reason="completed")
    text = str(res)
    _no_raw_arrays(text)
    assert text.startswith(f"FitResult(n_iter={BIG}, best_elbo=-1.235, best_iteration=4990, best_source='heldout'")
    assert "model=LowRankRNN(n_units=6" in text and "history=History(" in text
    assert "best_val_elbo=nan" in repr(_history(0)._replace(val_elbo=np.full(0, np.nan)))


def test_spike_comparison_summary():
    rng = np.random.default_rng(0)
    c = compare_spike_statistics(rng.poisson(0.3, (2, 400, 60)), rng.poisson(0.3, (2, 400, 60)))
    text = str(c)
    _no_raw_arrays(text)
    assert f"mean_rate_rel_error={c.mean_rate_rel_error:.4g}" in text and f"corr_rmse={c.corr_rmse:.4g}" in text
    assert "rate_rel_error=<array (60,)>" in text and "corr=<array (60, 60)>" in text
    assert f"real=SpikeStatistics(n_neurons=60, total_spikes={c.real.n_spikes.sum()}" in text


def test_evaluation_summary():
    e = Evaluation(dstsp=0.123456, dh=0.05, generated=np.zeros((BIG, 3)), reference=np.ones((BIG, 3)))
    assert str(e) == repr(e) == (f"Evaluation(dstsp=0.1235, dh=0.05, generated=<array ({BIG}, 3)>, "
                                 f"reference=<array ({BIG}, 3)>)")
    assert e.generated.shape == (BIG, 3)                      # still the tuple it was
