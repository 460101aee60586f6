"""Static timing of a mapped netlist: a levelised longest-path pass with the library's delays.

Each cell output switches `delay` after its latest input (one table-point delay per cell output,
independent of load and slew: the libraries are scalar). Paths start at input ports (time 0) and at
flip-flop outputs (clock-to-Q) and end at output ports and at flip-flop inputs (plus setup).
"""

from __future__ import annotations

from dataclasses import dataclass

from bespoke.targets.netlist import CONST0, CONST1, Netlist


@dataclass
class TimingResult:
    critical_path_s: float
    max_clock_hz: float | None  # None when there is no path (no logic between ports/flops)
    logic_depth: int
    startpoint: str
    endpoint: str
    path: list[dict]  # [{"instance", "cell", "arrival_s", "net"}] from start to end; net: its output's name or None


def analyse(nl: Netlist) -> TimingResult:
    lib = nl.lib
    arrival: dict[int, float] = {}
    pred: dict[int, tuple[int, int | None]] = {}  # net -> (instance, input net on the path)
    for nets in nl.data_inputs().values():
        for n in nets:
            arrival.setdefault(n, 0.0)
    for i, pin in nl.order:
        inst = nl.instances[i]
        cell = lib.cells[inst.type]
        if pin == "ff":
            for opin, net in inst.outputs.items():
                arrival[net] = cell.outputs[opin].delay
                pred[net] = (i, None)
            continue
        out = cell.outputs[pin]
        best, via = 0.0, None
        for p in out.inputs:
            n = inst.inputs[p]
            if n in (CONST0, CONST1) or n not in arrival:
                continue
            if via is None or arrival[n] > best:
                best, via = arrival[n], n
        net = inst.outputs[pin]
        arrival[net] = best + out.delay
        pred[net] = (i, via)
    # endpoints
    ends = []
    for port, nets in nl.outputs.items():
        for k, n in enumerate(nets):
            if n in arrival:
                ends.append((arrival[n], f"output {port}[{k}]", n))
    for i in nl.flops:
        inst = nl.instances[i]
        ff = lib.cells[inst.type].ff
        n = inst.inputs[ff.next_state]
        if n in arrival:
            ends.append((arrival[n] + ff.setup, f"{inst.name}.{ff.next_state} ({inst.type})", n))
    if not ends:
        return TimingResult(0.0, None, 0, "", "", [])
    t, endpoint, net = max(ends, key=lambda e: (e[0], e[1]))
    path, start = [], ""
    while True:
        if net not in pred:
            start = _input_name(nl, net)
            break
        i, via = pred[net]
        inst = nl.instances[i]
        path.append({"instance": inst.name, "cell": inst.type, "arrival_s": arrival[net], "net": nl.names.get(net)})
        if via is None:
            start = f"{inst.name} ({inst.type})" if lib.cells[inst.type].ff else "constant"
            break
        net = via
    path.reverse()
    depth = sum(1 for p in path if not lib.cells[p["cell"]].ff)
    return TimingResult(t, 1.0 / t if t > 0 else None, depth, start, endpoint, path)


def _input_name(nl: Netlist, net: int) -> str:
    for port, nets in nl.inputs.items():
        if net in nets:
            return f"input {port}[{nets.index(net)}]"
    return "constant"
