"""Every analyst command answers misuse with one clear message naming the argument, exit code 2,
never a traceback: a battery of bad arguments for estimate, model, search and describe, on a
project built from the synthetic mirror."""

from __future__ import annotations

import pytest

from analysis.cli import main

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
    (["estimate", "mean", "vitd_serum_nmol", "--weight", "wt_nonsense"], "unknown column"),
    (["estimate", "median", "vitd_serum_nmol"], "invalid choice"),
    (["model", "vitd_serum_nmol"], "write outcome ~ terms"),
    (["model", "vitd_serum_nmol ~ exp(age)"], "transformation"),
    (["model", "vitd_serum_nmol ~ agee"], "unknown column 'agee'"),
    (["model", "vitd_serum_nmol ~ C(sex, contr.treatment('none'))"], "not a level of sex"),
    (["model", "vitd_serum_nmol ~ C(education)", "--where", "age < 0"], "participant(s) in the domain"),
    (["model", "vitd_serum_nmol ~ age", "--family", "poisson"], "invalid choice"),
    (["model", "vitd_serum_nmol ~ age", "--exponentiate"], "--exponentiate"),
    (["search", "("], "not a valid regular expression"),
    (["search", " "], "give a word"),
    (["describe", "no_such_column"], "unknown column"),
    (["describe"], "required"),
]


@pytest.mark.parametrize("argv, message", BATTERY, ids=[" ".join(a)[:60] for a, _ in BATTERY])
def test_misuse_is_one_clear_message(mirror_project, capsys, argv, message):
    try:
        code = main(["--root", str(mirror_project)] + argv)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2, (argv, err)
    assert "Traceback" not in err and message in err, (argv, err)
