"""Writes ieee14.m (MATPOWER format) from PYPOWER's BSD-licensed case14, number for number.

Run from the repository root:  /tmp/pwvenv/bin/python scripts/power/make_ieee14.py
(venv: python3 -m venv /tmp/pwvenv && /tmp/pwvenv/bin/pip install pypower numpy)
"""

from pypower.case14 import case14

HEADER = """function mpc = ieee14
%IEEE14    IEEE 14-bus test case (DC/AC power flow and OPF data), MATPOWER case format version 2.
%
%   Source: the IEEE 14 Bus Test Case of the University of Washington Power Systems Test Case
%   Archive (R. Christie, 08/19/93 UW ARCHIVE, 100.0 MVA base, 1962 W IEEE 14 Bus Test Case),
%   https://labs.ece.uw.edu/pstca/ , as converted to MATPOWER format by cdf2matp and carried in
%   PYPOWER's case14.py (Copyright (c) 1996-2015 PSERC, BSD-style licence), transcribed here
%   number for number by scripts/make_ieee14.py.
%
%   Differences from MATPOWER 8's case14.m: rateA is 9900 MVA here (0 = unlimited there), the
%   quadratic cost coefficient of generator 1 is 0.0430293 here (0.0430292599 there), and the
%   bus_name cell array is omitted. No branch limits are binding at 9900 MVA.

%% MATPOWER Case Format : Version 2
mpc.version = '2';

%%-----  Power Flow Data  -----%%
%% system MVA base
mpc.baseMVA = {base};
"""


def num(v):
    v = float(v)
    return str(int(v)) if v == int(v) else repr(v)


def table(name, rows, comment):
    lines = [f"%% {comment[0]}", "%\t" + "\t".join(comment[1]), f"mpc.{name} = ["]
    for r in rows:
        lines.append("\t" + "\t".join(num(v) for v in r) + ";")
    lines.append("];")
    return "\n".join(lines) + "\n"


ppc = case14()
out = HEADER.replace("{base}", num(ppc["baseMVA"])) + "\n"
out += table("bus", ppc["bus"], ("bus data", "bus_i type Pd Qd Gs Bs area Vm Va baseKV zone Vmax Vmin".split())) + "\n"
out += table("gen", ppc["gen"], ("generator data", (
    "bus Pg Qg Qmax Qmin Vg mBase status Pmax Pmin Pc1 Pc2 Qc1min Qc1max Qc2min Qc2max "
    "ramp_agc ramp_10 ramp_30 ramp_q apf").split())) + "\n"
out += table("branch", ppc["branch"], ("branch data",
    "fbus tbus r x b rateA rateB rateC ratio angle status angmin angmax".split())) + "\n"
out += "%%-----  OPF Data  -----%%\n"
out += table("gencost", ppc["gencost"], ("generator cost data",
    ["2", "startup", "shutdown", "n", "c(n-1)", "...", "c0"]))
with open("scenarios/cases/ieee14.m", "w") as fh:
    fh.write(out)
print("wrote scenarios/cases/ieee14.m")
