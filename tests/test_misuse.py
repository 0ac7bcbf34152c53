"""Every analyst command answers misuse with one clear message naming the argument, exit code 2,
never a traceback: a battery of bad arguments for estimate, model, search and describe (and the
questions that would answer wrongly: refused with the reason), on a project built from the
synthetic mirror."""

from __future__ import annotations

import pytest

from analysis.commands.cli import main

pytestmark = pytest.mark.mirror

BATTERY = [
    (["estimate", "mean", "no_such_column"], "unknown column"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "age > 'old'"], "--where"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "__import__('os')"], "--where"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "agee >= 20"], "unknown column 'agee'"),
    (["estimate", "percentiles", "vitd_serum_nmol", "--percentiles", "0", "150"], "--percentiles"),
    (["estimate", "mean", "vitd_serum_nmol", "--by", "seqn"], "--by seqn"),
    (["estimate", "mean", "vitd_serum_nmol", "--cycles", "1999-2000"], "--cycles"),
    (["estimate", "mean", "vitd_serum_nmol", "--below", "50"], "--below / --above go with proportion"),
    (["estimate", "proportion", "vitd_serum_nmol"], "give --below or --above"),
    (["estimate", "mean", "vitd_serum_nmol", "--age-adjust", "1-2:x"], "--age-adjust"),
    (["estimate", "percentiles", "vitd_serum_nmol", "--age-adjust"], "--age-adjust goes with"),
    (["estimate", "mean", "sex"], "holds text"),
    (["estimate", "mean", "vitd_serum_nmol", "--weight", "wt_nonsense"], "not a survey weight"),
    (["estimate", "median", "vitd_serum_nmol"], "invalid choice"),
    (["model", "vitd_serum_nmol"], "write outcome ~ terms"),
    (["model", "vitd_serum_nmol ~ exp(age)"], "transformation"),
    (["model", "vitd_serum_nmol ~ agee"], "unknown column 'agee'"),
    (["model", "vitd_serum_nmol ~ C(sex, contr.treatment('none'))"], "not a level of sex"),
    (["model", "vitd_serum_nmol ~ C(education)", "--where", "age < 0"], "participant(s) in the domain"),
    (["model", "vitd_serum_nmol ~ age", "--family", "poisson"], "invalid choice"),
    (["model", "vitd_serum_nmol ~ age", "--exponentiate"], "--exponentiate"),
    (["estimate", "mean", "vitd_serum_nmol", "--weight", "wt_int"], "use --weight wt_mec"),
    (["estimate", "mean", "vitd_serum_nmol", "--weight", "age"], "not a survey weight"),
    (["estimate", "mean", "vitd_serum_nmol", "--by", "sex,race_eth"], "separate columns with spaces"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "sex == 'Female'"], "levels: female, male"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "cycle == '2019-2020'"], "not a level of cycle"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "age"], "only for a true/false column"),
    (["estimate", "mean", "vitd_serum_nmol", "--age-adjust", "--where", "age < 20"], "covers ages 20 and over"),
    (["estimate", "percentiles", "mg_total_usual_mg"], "understate the population's spread"),
    (["estimate", "proportion", "mg_total_usual_mg", "--below", "300"], "understate the population's spread"),
    (["estimate", "mean", "mg_adequate_usual", "--age-adjust"], "--age-adjust with mg_adequate_usual"),
    (["estimate", "mean", "vitd_serum_nmol", "--where", "mg_adequate_usual > 0.5"], "usual-intake prediction"),
    (["model", "vitd_below_50 ~ age"], "is true/false"),
    (["model", "vitd_serum_nmol ~ "], "no terms on the right"),
    (["model", "died ~ vitd_serum_nmol + age"], "linked mortality files"),
    (["model", "vitd_serum_nmol ~ age", "--weight", "wt_int"], "use --weight wt_mec"),
    (["model", "vitd_serum_nmol ~ age", "--where", "age == 40"], "cannot be fitted in this domain"),
    (["model", "vitd_serum_nmol ~ age", "--where", "mg_adequate_usual > 0.5"], "usual-intake prediction"),
    (["search", "("], "not a valid regular expression"),
    (["search", " "], "give a word"),
    (["describe", "no_such_column"], "unknown column"),
    (["describe"], "required"),
]


@pytest.mark.parametrize("argv, message", BATTERY, ids=[" ".join(a)[:60] for a, _ in BATTERY])
def test_misuse_is_one_clear_message(analyzed_project, capsys, argv, message):
    try:
        code = main(["--root", str(analyzed_project)] + argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert "Traceback" not in err and message in err, (argv, err)
