"""HDL backend: architecture planners, the netlist IR and its interpreter, the Verilog writers.

Entry points live in hdl.lower (not re-exported here, so `hdl.lower` stays the module):
    lower(ir, pipeline=False) -> NetlistTop             the netlist as an Amaranth component
    to_verilog(ir, name, pipeline=False) -> str         Verilog with a documenting header
    port_layout(ir, pipeline=False, name=None) -> dict  the JSON port contract for testbenches
    summary(ir, pipeline=False) -> dict                 adders, weights, CSD digits, widths per layer

The unrolled architecture as a netlist (hdl.netlist), Amaranth-free: hdl.unrolled.plan_unrolled(ir,
registers=False, sharing=True) builds it from the pure plans (hdl.dense_plan, hdl.mcm, hdl.xnor_plan, hdl.popcount,
hdl.requant_plan, hdl.compare_plan, hdl.stages); hdl.interpret runs it; hdl.unrolled_summary's
netlist_summary gives summary's figures from it; hdl.write_verilog and hdl.write_amaranth write it.

The folded (time-multiplexed, ready/valid) architecture lives in hdl.folded, with the same three
entry points taking arch="folded", pe and simd; hdl.lower hands arch="folded" over to it.
"""
