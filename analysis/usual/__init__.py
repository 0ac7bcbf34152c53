"""Usual (habitual) intake: the NCI-style measurement-error model, each person's usual intake
(INDIVINT), the population distribution (DISTRIB) and the regression-calibration columns."""
