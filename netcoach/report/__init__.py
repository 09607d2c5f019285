"""Reports: plots and the self-contained HTML report of a run folder, and
comparisons of several runs."""

from netcoach.report.entry import write_report

__all__ = ["write_report"]
