#!/usr/bin/env python3
"""numpy and numexpr on the formulas and data of benches/batch.rs, for
scale beside `Kernel::eval_batch` (docs/performance.md).

    pip install numpy numexpr        # for this script only, not the crate
    python3 benches/numpy_compare.py

Prints the median time per row (ns) of numpy and of numexpr with one and
with two threads, for 4,096-row columns (cache-resident, as in the
`batch/*-4096` groups) and 4,000,000-row columns (as in
`batch/threads-4m`). The columns are built as `columns()` in batch.rs
builds them.
"""
import statistics
import time

import numexpr
import numpy as np

POLY = "x*x*x - 2*x*x*y + 3*x*y*y - 4*y*y*y + 5*x - 6*y + 7"
FORMULA = "sqrt(x*x + y*y) * sin(x) + cos(y) / (1 + x**2)"


def columns(rows):
    i = np.arange(rows)
    return 0.25 + (i % 1000) * 0.003, 3.0 - (i % 777) * 0.005


def per_row(f, rows, budget=1.0):
    """Median of several timed runs of f(), in ns per row."""
    times = []
    deadline = time.perf_counter() + budget
    while len(times) < 5 or time.perf_counter() < deadline:
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times) / rows * 1e9


def main():
    print(f"numpy {np.__version__}, numexpr {numexpr.__version__}")
    for rows in (4096, 4_000_000):
        x, y = columns(rows)
        out = np.empty(rows)
        for name, text in (("poly", POLY), ("formula", FORMULA)):
            cells = [f"{name:8} {rows:>9} rows"]
            cells.append(f"numpy {per_row(lambda: eval(text, {'x': x, 'y': y, 'sqrt': np.sqrt, 'sin': np.sin, 'cos': np.cos}), rows):6.2f}")
            for threads in (1, 2):
                numexpr.set_num_threads(threads)
                cells.append(
                    f"numexpr/{threads} {per_row(lambda: numexpr.evaluate(text, local_dict={'x': x, 'y': y}, out=out), rows):6.2f}"
                )
            print("  ".join(cells) + "  (ns/row)")


if __name__ == "__main__":
    main()
