"""The win-probability model: L2-regularised logistic regression on standardised features.

Why this model: it is fitted by maximising the likelihood of the outcomes, so its probabilities
are calibrated by construction (a deal given 30 % wins about 30 % of the time), which a forecast
summed over deals needs; each feature has one coefficient, so a deal's probability splits exactly
into per-feature effects in log-odds (the explanation); it has one parameter per feature (about
twenty), so a few hundred closed deals fit it, and the penalty keeps it stable on fewer. Naive
Bayes over-counts correlated evidence (replies, touches and silence move together) and is badly
calibrated; trees and boosting need far more history and a separate calibration step.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from operator import mul

PENALTY = 2.0
"""The L2 penalty on standardised coefficients (not on the intercept)."""
MAX_STEP = 4.0
"""The largest change of a coefficient in one Newton step."""


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Solve ``matrix @ x = vector`` (symmetric positive definite) by Gaussian elimination."""
    n = len(vector)
    a = [row[:] + [vector[i]] for i, row in enumerate(matrix)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for row in range(col + 1, n):
            factor = a[row][col] / a[col][col]
            if factor:
                a[row] = [x - factor * y for x, y in zip(a[row], a[col], strict=True)]
    solution = [0.0] * n
    for row in range(n - 1, -1, -1):
        solution[row] = (a[row][n] - sum(a[row][k] * solution[k] for k in range(row + 1, n))) / a[row][row]
    return solution


@dataclass(frozen=True)
class WinModel:
    """A fitted model: the features' means and spreads, the intercept and the coefficients."""

    means: tuple[float, ...]
    scales: tuple[float, ...]
    intercept: float
    coefficients: tuple[float, ...]

    def effects(self, features: Sequence[float]) -> list[float]:
        """Each feature's effect on the log-odds, against an average deal of the history."""
        return [c * (x - m) / s for c, x, m, s in
                zip(self.coefficients, features, self.means, self.scales, strict=True)]

    def probability(self, features: Sequence[float]) -> float:
        return _sigmoid(self.intercept + sum(self.effects(features)))


def _standardisation(rows: Sequence[Sequence[float]]) -> tuple[list[float], list[float]]:
    n, width = len(rows), len(rows[0])
    means = [sum(row[j] for row in rows) / n for j in range(width)]
    scales = []
    for j in range(width):
        variance = sum((row[j] - means[j]) ** 2 for row in rows) / n
        scales.append(math.sqrt(variance) if variance > 1e-12 else 1.0)
    return means, scales


def fit(rows: Sequence[Sequence[float]], labels: Sequence[int], start: WinModel | None = None,
        iterations: int = 25, tolerance: float = 1e-6, signs: Sequence[int] | None = None) -> WinModel:
    """Fit by Newton's method (iteratively reweighted least squares), from ``start`` if given.

    ``signs`` (one per feature: +1, -1 or 0 for free) keeps a coefficient on its side of zero
    (projected Newton: a coefficient held at zero while the likelihood pulls it across is left out of
    the step). The sums run over feature columns (``sum(map(mul, ...))``), not rows, which keeps a
    fit on tens of thousands of snapshots under a second.
    """
    means, scales = _standardisation(rows)
    columns = [[1.0] * len(rows)] + [[(row[j] - m) / s for row in rows] for j, (m, s) in
                                     enumerate(zip(means, scales, strict=True))]
    width = len(columns)
    sign = [0, *(signs or [0] * (width - 1))]
    beta = [0.0] * width
    if start is not None and len(start.coefficients) == width - 1:
        beta = [start.intercept] + [c * s / s0 for c, s0, s in zip(start.coefficients, start.scales, scales,
                                                                    strict=True)]
    beta = [_on_side(b, d) for b, d in zip(beta, sign, strict=True)]
    for _ in range(iterations):
        eta = [beta[0]] * len(rows)
        for b, column in zip(beta[1:], columns[1:], strict=True):
            eta = [e + b * x for e, x in zip(eta, column, strict=True)]
        probabilities = [_sigmoid(e) for e in eta]
        residuals = [y - p for y, p in zip(labels, probabilities, strict=True)]
        weights = [p * (1 - p) for p in probabilities]
        gradient = [sum(map(mul, residuals, column)) - (PENALTY * b if j else 0.0)
                    for j, (b, column) in enumerate(zip(beta, columns, strict=True))]
        held = [j for j in range(width) if sign[j] and beta[j] == 0.0 and gradient[j] * sign[j] <= 0]
        hessian = [[0.0] * width for _ in range(width)]
        for j in range(width):
            weighted = list(map(mul, weights, columns[j]))
            for k in range(j, width):
                hessian[j][k] = hessian[k][j] = sum(map(mul, weighted, columns[k]))
            hessian[j][j] += PENALTY if j else 1e-6
        for j in held:  # a coefficient held at zero takes no step
            gradient[j] = 0.0
            for k in range(width):
                hessian[j][k] = hessian[k][j] = 0.0
            hessian[j][j] = 1.0
        step = _solve(hessian, gradient)
        largest = max(abs(d) for d in step)
        if largest > MAX_STEP:  # damped: a separable history must not overshoot to infinity
            step = [d * MAX_STEP / largest for d in step]
        moved = [_on_side(b + d, side) for b, d, side in zip(beta, step, sign, strict=True)]
        change = max(abs(m - b) for m, b in zip(moved, beta, strict=True))
        beta = moved
        if change < tolerance:
            break
    return WinModel(tuple(means), tuple(scales), beta[0], tuple(beta[1:]))


def _on_side(value: float, side: int) -> float:
    """``value``, or zero if it is on the wrong side of zero for ``side`` (+1, -1; 0: any)."""
    return 0.0 if value * side < 0 else value
