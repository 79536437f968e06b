"""The coefficients of csrc/activations.h's float tanh and exp: minimax fits by Remez
exchange, minimizing the relative error (needs numpy and mpmath).

    python tools/fit_activations.py

tanh(x) ~ x P(x^2) / Q(x^2) on [0, 9.1], P and Q of degree 4 with P(0) = Q(0) = 1 (so
that tanh(x) = x exactly for tiny x); past 9.1 tanh rounds to 1 in float.
exp(r) ~ 1 + c1 r + ... + c6 r^6 on |r| <= ln2/2 (the reduced argument).
Both print the worst relative error of the fit before rounding; tools/check_activations.c
measures what the float evaluation reaches over every float.
"""

import mpmath
import numpy as np

mpmath.mp.dps = 40


def remez(f, num_degree, den_degree, grid, iterations=60):
    """P(v) / Q(v) ~ f(v) on grid (no zero of f - P/Q on it but where forced),
    P = 1 + p1 v + ..., Q = 1 + q1 v + ..., minimax in the relative error.
    Returns p (p1...), q (q1...), the worst relative error on the grid."""
    n = num_degree + den_degree + 1  # unknowns p, q and the levelled error E
    reference = grid[np.linspace(0, len(grid) - 1, n + 2)[1:-1].astype(int)]
    fg = f(grid)
    p, q = np.zeros(num_degree), np.zeros(den_degree)
    for _ in range(iterations):
        # P - f Q = (-1)^i E f Q at the reference points, linear once Q on the right is
        # the previous iterate's
        fr, sign = f(reference), (-1.0) ** np.arange(n)
        for _ in range(30):
            q_prev = 1 + sum(q[k] * reference ** (k + 1) for k in range(den_degree))
            A = np.zeros((n, n))
            for k in range(num_degree):
                A[:, k] = reference ** (k + 1)
            for k in range(den_degree):
                A[:, num_degree + k] = -fr * reference ** (k + 1)
            A[:, -1] = -sign * fr * q_prev
            solution = np.linalg.solve(A, fr - 1)
            q_new = solution[num_degree:-1]
            change = np.abs(q_new - q).max(initial=0)
            settled = change <= 1e-15 * (1 + np.abs(q_new).max(initial=0))
            p, q, levelled = solution[:num_degree], q_new, abs(solution[-1])
            if settled:
                break
        P = 1 + sum(p[k] * grid ** (k + 1) for k in range(num_degree))
        Q = 1 + sum(q[k] * grid ** (k + 1) for k in range(den_degree))
        error = P / Q / fg - 1
        # the new reference: the extremum of each run of one sign, n of them
        runs, start = [], 0
        for i in range(1, len(grid) + 1):
            if i == len(grid) or np.sign(error[i]) != np.sign(error[start]):
                runs.append(start + int(np.argmax(np.abs(error[start:i]))))
                start = i
        while len(runs) > n:
            runs = runs[1:] if abs(error[runs[0]]) < abs(error[runs[-1]]) else runs[:-1]
        worst = np.abs(error).max()
        if len(runs) < n or worst < levelled * (1 + 1e-6):
            break
        reference = grid[runs]
    return p, q, worst


def tanh_fit(X=9.1):
    U = X * X  # fitted in v = x^2 / U, in (0, 1]

    def f(v):
        x = np.sqrt(v * U)
        return np.array([float(mpmath.tanh(mpmath.mpf(xi)) / xi) for xi in x])

    line = np.linspace(0, 1, 20001)[1:]
    p, q, worst = remez(f, 4, 4, np.unique(np.concatenate([line, line**2])))
    scale = U ** np.arange(1, 5)
    return p / scale, q / scale, worst


def exp_fit(degree=6):
    R = float(mpmath.log(2) / 2) * 1.0001
    p, _, worst = remez(np.exp, degree, 0, np.linspace(-R, R, 40000))  # no point at r = 0
    return p, worst


if __name__ == "__main__":
    p, q, worst = tanh_fit()
    print(f"tanh: P, Q from v^1 up (v = x^2), worst relative error {worst:.2e}")
    print("  P", " ".join(f"{c:.9e}" for c in p))
    print("  Q", " ".join(f"{c:.9e}" for c in q))
    c, worst = exp_fit()
    print(f"exp: c1 .. c6, worst relative error {worst:.2e}")
    print("  c", " ".join(f"{x:.9e}" for x in c))
