"""NHANES cycles as a reader writes them."""

from __future__ import annotations


def cycle_span(cycles: list[str]) -> str:
    """"2007-2008, 2009-2010, 2015-2016" as "2007-2010, 2015-2016": runs of consecutive cycles joined."""
    runs: list[list[int]] = []
    for first, last in sorted(tuple(int(y) for y in c.split("-")) for c in cycles):
        if runs and first == runs[-1][1] + 1:
            runs[-1][1] = last
        else:
            runs.append([first, last])
    return ", ".join(f"{a}-{b}" for a, b in runs)
