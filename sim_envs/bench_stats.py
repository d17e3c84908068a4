"""Statistics of the guidance benchmark: Wilson intervals and paired comparisons by seed.

Every configuration of a bench runs the same seeds, so two configurations (critic on and
off, closed and open loop) are compared episode by episode: McNemar's test on the pairs
where exactly one of them succeeded (exact binomial form, sound for the small counts of a
bench). Both from statsmodels (the `sim` extra), not hand-written.
"""
from __future__ import annotations

# statsmodels (and scipy under it) is imported inside the functions: a heavy optional stack
# that `interleave-robot --help` should not pay for.


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """The (1 - alpha) Wilson score interval of a success rate; (0, 0) for n = 0."""
    if n == 0:
        return 0.0, 0.0
    from statsmodels.stats.proportion import proportion_confint

    lo, hi = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(lo), float(hi)


def mcnemar_paired(treated: dict, control: dict) -> dict:
    """McNemar's exact test of two configurations paired by seed ({seed: success}).

    Returns the pairs compared, the discordant counts (`treated_only`: seeds only the treated
    configuration solved; `control_only`: the reverse) and the two-sided p-value (1.0 when no
    pair is discordant: no evidence either way)."""
    seeds = sorted(set(treated) & set(control))
    a_only = sum(1 for s in seeds if treated[s] and not control[s])
    b_only = sum(1 for s in seeds if control[s] and not treated[s])
    both = sum(1 for s in seeds if treated[s] and control[s])
    neither = len(seeds) - a_only - b_only - both
    p_value = 1.0
    if a_only + b_only:
        from statsmodels.stats.contingency_tables import mcnemar

        p_value = float(mcnemar([[both, a_only], [b_only, neither]], exact=True).pvalue)
    return {"pairs": len(seeds), "treated_only": a_only, "control_only": b_only, "p_value": p_value}
