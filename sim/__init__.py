"""Simulation: the bit-exact golden model, cocotb testbenches, the simulator runner."""
