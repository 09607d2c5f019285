"""The doctor's agreement with the labelled corpus (bench/doctor_corpus.py): synthetic
curves and the cached real digits runs. Prints the agreement per verdict, overall, and
every disagreement with the doctor's evidence.

    python bench/doctor.py            # exit 1 when the agreement is below the 95% goal
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.doctor_corpus import config_of, real, synthetic  # noqa: E402
from netcoach.diagnose.doctor import diagnose_history  # noqa: E402

GOAL = 0.95


def verdict(case: dict) -> list[dict]:
    return diagnose_history(case["history"], case["summary"], config_of(case))


def evaluate(cases: list[dict]) -> tuple[Counter, Counter, list[tuple[dict, list[dict]]]]:
    total, hits, misses = Counter(), Counter(), []
    for case in cases:
        found = verdict(case)
        total[case["expected"]] += 1
        if found and found[0]["label"] == case["expected"]:
            hits[case["expected"]] += 1
        else:
            misses.append((case, found))
    return total, hits, misses


def main() -> int:
    corpora = {"synthetic": synthetic(), "real": real()}
    all_ok, all_n = 0, 0
    for name, cases in corpora.items():
        total, hits, misses = evaluate(cases)
        n, ok = sum(total.values()), sum(hits.values())
        all_ok, all_n = all_ok + ok, all_n + n
        print(f"{name}: {ok}/{n} agree ({ok / max(n, 1):.1%})")
        for label in sorted(total):
            print(f"  {label:15s} {hits[label]}/{total[label]}")
        for case, found in misses:
            got = ", ".join(f["label"] for f in found) or "nothing"
            evidence = found[0]["evidence"] if found else ""
            print(f"  MISS {case['name']}: expected {case['expected']}, got {got} — {evidence}")
    rate = all_ok / max(all_n, 1)
    print(f"overall: {all_ok}/{all_n} agree ({rate:.1%}; goal {GOAL:.0%})")
    return 0 if rate >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
