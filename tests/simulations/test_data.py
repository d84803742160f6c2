"""Loading RouteLLM-shaped files and pricing their models."""

import numpy as np
import pytest

from simulations.data import DataError, Scenario, load_responses, parse_costs, read_responses, \
    synthetic
from tests.simulations.conftest import write_responses


def test_a_directory_of_csv_files_is_read_recursively(response_dir):
    table = read_responses(response_dir)
    assert table.models == ("weak/model-7b", "strong-model")  # text column ignored
    assert table.quality.shape == (600, 2)
    assert set(np.unique(table.quality)) <= {0.0, 1.0}


def test_a_single_file_with_numeric_columns_is_accepted(tmp_path):
    f = write_responses(tmp_path / "scores.csv", 50, 3, boolean=False)
    table = read_responses(f)
    assert table.quality.shape == (50, 2)


def test_a_file_without_a_prompt_column_is_refused(tmp_path):
    f = tmp_path / "bad.csv"
    f.write_text("question,m1,m2\nhi,1,0\n")
    with pytest.raises(DataError, match="prompt"):
        read_responses(f)


def test_costs_come_from_a_models_toml_by_tokens(response_dir, models_toml):
    data = load_responses(response_dir, catalogs=[models_toml], output_tokens=100)
    # the strong model costs ~50-150x the weak one per request, and longer prompts cost more
    ratio = data.cost[:, 1] / data.cost[:, 0]
    assert np.all((ratio > 45) & (ratio < 150))
    assert data.X.shape[0] == 600


def test_flat_costs_override_the_catalog_and_missing_prices_are_an_error(response_dir):
    data = load_responses(response_dir, costs=parse_costs(["strong-model=0.01",
                                                           "weak/model-7b=0.001"]))
    assert np.all(data.cost == [0.001, 0.01])
    with pytest.raises(DataError, match="no price"):
        load_responses(response_dir)


def test_synthetic_scenarios_are_reproducible_and_change_half_way():
    sc = Scenario(steps=400)
    a, b = synthetic("drift", 7, sc), synthetic("drift", 7, sc)
    assert np.array_equal(a.reward, b.reward) and np.array_equal(a.X, b.X)
    assert a.drift_step == 200
    new = synthetic("newcomer", 7, sc)
    assert not new.available[:200, -1].any() and new.available[200:, -1].all()
    price = synthetic("price", 7, sc)
    assert price.cost[200:, -1].mean() < 0.5 * price.cost[:200, -1].mean()
    lat = synthetic("latency", 7, sc)
    assert lat.latency_ms.shape == (400, 3)


def _hard(prompts) -> np.ndarray:
    return np.array([[1.0 if p.startswith("prove") else 0.0] for p in prompts])


def test_precomputed_features_replace_the_featuriser_row_for_row(response_dir, tmp_path):
    table = read_responses(response_dir)
    f = tmp_path / "emb.npy"
    np.save(f, _hard(table.prompts).astype(np.float32))
    data = load_responses(response_dir, costs={"weak/model-7b": 0.001, "strong-model": 0.01},
                          features=f)
    assert data.X.shape == (600, 2)  # the bias column, then the file's column
    assert (data.X[:, 0] == 1.0).all()
    assert data.X[:, 1].tolist() == _hard(table.prompts)[:, 0].tolist()


@pytest.mark.parametrize("array, message", [
    (np.zeros((599, 3)), "599 rows but the data has 600"),
    (np.zeros(600), "shape"),
    (np.array([["a"]] * 600), "numeric"),
])
def test_feature_files_that_do_not_fit_the_data_are_refused(response_dir, tmp_path, array,
                                                            message):
    f = tmp_path / "bad.npy"
    np.save(f, array)
    with pytest.raises(DataError, match=message):
        load_responses(response_dir, costs={"weak/model-7b": 0.001, "strong-model": 0.01},
                       features=f)


def test_a_feature_file_with_nan_or_that_is_not_npy_is_refused(response_dir, tmp_path):
    costs = {"weak/model-7b": 0.001, "strong-model": 0.01}
    nan = np.zeros((600, 2))
    nan[17, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    with pytest.raises(DataError, match="row 17"):
        load_responses(response_dir, costs=costs, features=tmp_path / "nan.npy")
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(DataError, match="cannot read features"):
        load_responses(response_dir, costs=costs, features=tmp_path / "text.npy")
