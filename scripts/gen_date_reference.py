#!/usr/bin/env python3
"""Writes tests/data/date_reference.tsv: every row of tests/data/date_cases.tsv (hand-checked
ground truth for `crm.parse_date`) side by side with what Python `dateparser` answers for it.
The `expected` column is the truth; dateparser's answer is only a point of comparison, and
where they differ dateparser is the one that is wrong (or guesses where we return NULL).

Columns (tab-separated, no header): lang, field_order, input, expected, dateparser_answer
(ISO yyyy-mm-dd or \\N). On stderr: dateparser's pass rate (answer == expected) per language.

Run: python3 -m venv /tmp/dp && /tmp/dp/bin/pip install dateparser==1.5.0 &&
     /tmp/dp/bin/python scripts/gen_date_reference.py > tests/data/date_reference.tsv

(Generated with dateparser 1.5.0, python-dateutil 4.0.0, regex 2026.11.19, pytz 2026.6,
tzlocal 5.4.5 on Python 3.11.7.)
"""
import os
import sys
from collections import OrderedDict
from datetime import datetime

import dateparser

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "tests", "data", "date_cases.tsv")
NULL = "\\N"


def answer(raw, field_order):
    try:
        d = dateparser.parse(raw, settings={
            "DATE_ORDER": field_order,
            "STRICT_PARSING": True,
            "PREFER_DATES_FROM": "past",
            "RELATIVE_BASE": datetime(2026, 11, 30),
        })
    except Exception:  # dateparser raises on some garbage; that is a "no date"
        return NULL
    return d.date().isoformat() if d is not None else NULL


def main():
    stats = OrderedDict()
    out = sys.stdout
    with open(CASES, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            lang, field_order, raw, expected = line.split("\t")
            got = answer(raw, field_order)
            out.write("\t".join((lang, field_order, raw, expected, got)) + "\n")
            ok, total = stats.get(lang, (0, 0))
            stats[lang] = (ok + (got == expected), total + 1)
    print("dateparser %s: answer == expected" % getattr(dateparser, "__version__", "?"), file=sys.stderr)
    all_ok = all_total = 0
    for lang, (ok, total) in stats.items():
        print("  %-8s %3d/%3d  %5.1f%%" % (lang, ok, total, 100.0 * ok / total), file=sys.stderr)
        all_ok += ok
        all_total += total
    print("  %-8s %3d/%3d  %5.1f%%" % ("all", all_ok, all_total, 100.0 * all_ok / all_total), file=sys.stderr)


if __name__ == "__main__":
    main()
