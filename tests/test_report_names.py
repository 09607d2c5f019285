"""The report's code names run-folder files only through ``RunFolder``'s names
(netcoach/train/run.py), so renaming a file there renames it everywhere."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import netcoach

RUN = importlib.import_module("netcoach.train.run")
REPORT_CODE = Path(netcoach.__file__).parent / "report"


def test_report_modules_spell_no_run_folder_file_name_themselves():
    names = {v for k, v in vars(RUN).items() if k.isupper() and isinstance(v, str)}
    assert {"plots", "report.html", "checkpoints"} <= names
    spelled = [f"{p.name}:{node.lineno} {node.value!r}" for p in sorted(REPORT_CODE.glob("*.py"))
               for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
               if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in names]
    assert spelled == [], "use the names of netcoach/train/run.py: " + ", ".join(spelled)
