"""HDL backend: Amaranth components and the IR -> Amaranth -> Verilog lowering."""
