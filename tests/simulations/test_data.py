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


def test_routerbench_style_price_columns_are_prices_not_models(tmp_path):
    from tests.simulations.conftest import write_many

    for suffix in ("|total_cost", "|cost"):
        f = write_many(tmp_path / f"bench{suffix[1:]}.csv", 40, 1, suffix)
        data = load_responses(f)  # no catalog needed: the file prices every call
        assert data.models == ("tiny", "coder", "mid", "big")  # ids, text, responses ignored
        assert set(np.unique(data.reward)) <= {0.0, 1.0}
        table = read_responses(f)
        assert np.array_equal(data.charged, table.cost)  # runs are charged each call's price
        assert np.array_equal(data.billed, table.cost)
        assert 0.0001 <= data.charged[:, 0].min() and data.charged[:, 3].max() <= 0.012
        assert len(np.unique(data.charged[:, 3])) > 30  # per request, not a flat price
        # deciding, a router cannot know the answer's length: it sees each model's mean price
        np.testing.assert_allclose(data.cost, np.tile(table.cost.mean(axis=0), (40, 1)))


def test_flat_costs_override_the_price_columns(tmp_path):
    from tests.simulations.conftest import write_many

    f = write_many(tmp_path / "bench.csv", 20, 1)
    data = load_responses(f, costs={"big": 0.05})
    assert np.all(data.cost[:, 3] == 0.05) and np.all(data.charged[:, 3] == 0.05)
    assert data.charged[:, 0].std() > 0 and data.cost[:, 0].std() < 1e-15


@pytest.mark.parametrize("bad, said", [("", "is missing"), ("-0.01", "is '-0.01'"),
                                       ("nan", "is 'nan'"), ("cheap", "is 'cheap'")])
def test_a_bad_price_names_the_file_line_and_column(tmp_path, bad, said):
    import csv

    from tests.simulations.conftest import write_many

    f = write_many(tmp_path / "bench.csv", 10, 1)
    with f.open(newline="") as fh:
        rows = list(csv.reader(fh))
    rows[4][rows[0].index("coder|total_cost")] = bad  # the fourth request
    with f.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    with f.open(newline="") as fh:  # prompts span lines: find where that record ends
        reader = csv.reader(fh)
        for _ in range(5):
            next(reader)
        line = reader.line_num
    with pytest.raises(DataError) as err:
        read_responses(f)
    msg = str(err.value)
    assert f"{f} line {line}:" in msg and "'coder|total_cost'" in msg and said in msg


def test_price_columns_must_match_a_model_and_every_file(tmp_path):
    from tests.simulations.conftest import write_many

    f = tmp_path / "orphan.csv"
    f.write_text("prompt,a,b,c|total_cost\nhi,1,0,0.1\n")
    with pytest.raises(DataError, match="'c\\|total_cost' names no model column 'c'"):
        read_responses(f)
    d = tmp_path / "split"
    d.mkdir()
    write_many(d / "a.csv", 10, 1)
    (d / "b.csv").write_text("prompt,tiny,coder,mid,big\nhi,1,0,1,1\n")
    with pytest.raises(DataError, match="prices for"):
        read_responses(d)


def test_a_priced_column_that_is_not_a_quality_in_0_1_is_refused(tmp_path):
    f = tmp_path / "scores.csv"
    f.write_text("prompt,a,b,b|total_cost,row\nhi,1,7,0.1,1\nho,0,0.5,0.1,2\n")
    with pytest.raises(DataError, match="'b' has a price column but is not a quality"):
        read_responses(f)
    f.write_text("prompt,a,b,row\nhi,1,0.5,1\nho,0,0.25,2\n")
    assert read_responses(f).models == ("a", "b")  # a numeric id column is not a model


def test_the_families_world_is_seeded_and_has_the_promised_shape():
    from simulations import families

    a = synthetic("families", 3, Scenario(steps=600))
    b = synthetic("families", 3, Scenario(steps=600))
    assert np.array_equal(a.reward, b.reward) and np.array_equal(a.X, b.X)
    assert synthetic("families", 4, Scenario(steps=600)).reward.tolist() != a.reward.tolist()
    assert a.k >= 8 and a.n == 600
    mean_cost = a.cost.mean(axis=0)
    assert mean_cost.max() > 50 * mean_cost.min()
    assert ((a.reward >= 0) & (a.reward <= 1)).all()
    w = families.generate(3, 3000)
    expected, cost, texts, fam = w.expected, w.charged, w.texts, w.family
    assert np.corrcoef(w.quoted[:, 0], w.charged[:, 0])[0, 1] < 0.9  # answers vary in length
    order = np.argsort(cost.mean(axis=0))
    cheap = order[:6]  # the six cheapest models
    assert cost[:, cheap].mean(axis=0).max() <= 0.5 * cost[:, order[6]].mean()
    best_cheap = {int(np.argmax(expected[fam == f][:, cheap].mean(axis=0)))
                  for f in range(len(families.FAMILIES))}
    assert len(best_cheap) == len(families.FAMILIES)  # a different cheap model per family
    dear = int(np.argmax(expected.mean(axis=0)))
    assert dear == int(np.argmax(cost.mean(axis=0)))  # the dearest is best overall
    assert len(set(texts)) > 0.9 * len(texts)  # varied text, not a handful of templates
    assert synthetic("families", 0).n == 5_000  # the default length
