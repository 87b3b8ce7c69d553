"""tpbench's report generator (tools/report/make_report.py is its command line)."""
