"""Technology targets: cell libraries, Yosys synthesis, area / power / timing estimation."""
