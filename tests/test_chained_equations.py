"""The array implementation of chained equations equals statsmodels' MICEData draw for draw."""

import numpy as np
import pandas as pd
import pytest
from statsmodels.imputation.mice import MICEData

from analysis.analyses.chained_equations import ChainedEquations


def built(seed: int = 11, n: int = 3000) -> pd.DataFrame:
    """Correlated variables; three with missing values (MAR on an observed one), one coded 0-3."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20, 80, n)
    bmi = 22 + 0.08 * age + rng.normal(0, 4, n)
    income = np.clip(2.5 + 0.02 * (age - 50) - 0.05 * (bmi - 27) + rng.normal(0, 1.2, n), 0, 5)
    education = np.clip(np.round(1.5 + 0.4 * income + rng.normal(0, 0.8, n)), 0, 3)
    outcome = 50 + 3 * income - 0.5 * bmi + rng.normal(0, 10, n)
    data = pd.DataFrame({"outcome": outcome, "age": age, "bmi": bmi, "income": income, "education": education})
    data.loc[rng.random(n) < 0.05 + 0.002 * (age - 20), "income"] = np.nan
    data.loc[rng.random(n) < 0.03, "bmi"] = np.nan
    data.loc[rng.random(n) < 0.08, "education"] = np.nan
    return data


@pytest.mark.parametrize("seed", [1, 20241126])
def test_same_imputations_as_statsmodels_bit_for_bit(seed):
    data = built()
    reference = MICEData(data, k_pmm=20, rng=np.random.default_rng(seed))
    ours = ChainedEquations(data, np.random.default_rng(seed), k_pmm=20)
    for cycles in (5, 2, 2):  # burn-in, then two more data sets
        reference.update_all(cycles)
        ours.update_all(cycles)
        assert np.array_equal(reference.data.to_numpy(), ours.data.to_numpy())
    # and imputed values are observed ones (predictive mean matching)
    for column in ("income", "bmi", "education"):
        imputed = ours.data.loc[data[column].isna(), column]
        assert imputed.isin(data[column].dropna()).all()
        assert not imputed.isna().any()


def test_imputes_only_what_is_missing_and_keeps_observed_values():
    data = built()
    ours = ChainedEquations(data, np.random.default_rng(3))
    ours.update_all(3)
    observed = data.notna()
    assert np.array_equal(ours.data.to_numpy()[observed.to_numpy()], data.to_numpy()[observed.to_numpy()])
    counts = data.isna().sum()
    assert [ours.names[j] for j in ours.cycle] == list(counts[counts > 0].sort_values().index)  # fewest missing first


def test_a_variable_with_no_observed_value_is_refused():
    data = built().assign(empty=np.nan)
    with pytest.raises(ValueError, match="no observed values"):
        ChainedEquations(data, np.random.default_rng(0))
