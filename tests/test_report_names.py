"""How report modules depend on each other and on the run folder: run-folder file names
come only from ``RunFolder``'s module (netcoach/train/run.py), so renaming a file there
renames it everywhere, and the picture helpers other modules share are public ones."""

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


def test_other_report_modules_use_only_the_public_helpers_of_images():
    used = [f"{p.name}: {alias.name}" for p in sorted(REPORT_CODE.glob("*.py")) if p.name != "images.py"
            for node in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(node, ast.ImportFrom) and node.module == "netcoach.report.images"
            for alias in node.names if alias.name.startswith("_")]
    assert used == []
    from netcoach.report import images
    for name in ("caption_grid", "to_uint8_rgb", "upscale", "save_pil", "to_display"):
        assert getattr(images, name).__doc__, name
