"""bespoke.compiler: the layer IR with each op's semantics, the ONNX frontend and the passes.

The bottom of the package: it imports nothing else of bespoke (the layering contract in
tests/test_layering.py says so).
"""
