"""Technology targets: cell libraries, Yosys synthesis, area / power / timing estimation.

Public API (see targets/README.md and targets/REPORT_SCHEMA.md):
- `targets.report.make_report(verilog_files, top, target, clock_hz=None, vectors=None, layout=None,
  verbose=False, layers=False) -> dict`, `write_report(out_dir, report) -> {"json", "md", "html"}`
  (report.<target>.json/.md/.html), `format_table(report)`, `TARGETS`;
- `targets.report_html.report_html(report) -> str`: the report as one self-contained page;
- `targets.cli.add_arguments(parser)` and `targets.cli.run(args)` for `bespoke report`;
- `targets.explore_report.write_explore_report(out_dir, result) -> {"html", "csv", "json"}`: an
  exploration's candidates as report.html (plots embedded), pareto.csv and pareto.json.
"""
