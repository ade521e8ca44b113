#!/usr/bin/env python3
"""Writes tests/data/address_reference_us.tsv: the US rows of tests/data/address_cases.tsv
(hand-written expected answers for `crm.parse_address`) side by side with what Python
`usaddress` (the CRF tagger from datamade) answers for them, mapped to our keys.
It is a reference to compare with, not the ground truth: the expected column is.

Columns: country, input, expected, usaddress_answer (JSON objects compact, keys sorted).
On stderr: usaddress's accuracy per component (share of US rows whose value for that key,
absence included, equals the expected one) and its whole-address exact-match rate.

Run: python3 -m venv /tmp/ua && /tmp/ua/bin/pip install usaddress==0.5.16 &&
     /tmp/ua/bin/python scripts/gen_address_reference.py > tests/data/address_reference_us.tsv
"""
import json
import os
import re
import sys
from importlib.metadata import version

import usaddress

HERE = os.path.dirname(os.path.abspath(__file__))
CASES = os.path.join(HERE, "..", "tests", "data", "address_cases.tsv")
KEYS = ["house_number", "road", "unit", "city", "state", "postcode", "country"]

# usaddress label -> our key. Labels of one key are joined with spaces in input order.
LABEL_KEY = {
    "AddressNumberPrefix": "house_number",
    "AddressNumber": "house_number",
    "AddressNumberSuffix": "house_number",
    "StreetNamePreModifier": "road",
    "StreetNamePreDirectional": "road",
    "StreetNamePreType": "road",
    "StreetName": "road",
    "StreetNamePostType": "road",
    "StreetNamePostDirectional": "road",
    "SubaddressType": "unit",
    "SubaddressIdentifier": "unit",
    "OccupancyType": "unit",
    "OccupancyIdentifier": "unit",
    "PlaceName": "city",
    "StateName": "state",
    "ZipCode": "postcode",
    "ZipPlus4": "postcode",
    "CountryName": "country",  # not in usaddress 0.5.16's label set; kept for later models
}
US_NAMES = {"us", "usa", "u.s", "u.s.a", "united states", "united states of america", "america"}


def tidy(value):
    """Our convention: inner whitespace collapsed, surrounding commas/periods removed."""
    return re.sub(r"\s+", " ", value).strip(" ,.;")


def us_postcode(zip5, plus4):
    """clean_postcode's US format where the digits allow it; otherwise as tagged."""
    digits = re.sub(r"[\s\-]", "", zip5 + plus4)
    if re.fullmatch(r"\d{5}", digits):
        return digits
    if re.fullmatch(r"\d{9}", digits):
        return digits[:5] + "-" + digits[5:]
    return tidy(zip5 + ("-" + plus4 if plus4 else ""))


def labelled(raw):
    """[(label, token, start, end)] for each token of `raw`, in input order, with its place
    in `raw`. The labels are those usaddress.tag groups (tag labels each token as parse does;
    it only refuses with RepeatedLabelError when one label comes back after another, and
    then parse's labels are used as they are). The text of a key is re-read from the input
    rather than tag's space-joined tokens, because usaddress's tokenizer splits '#' and '&'
    off ('#12' -> '# 12', 'AT&T' -> 'AT & T'): those would be tokenizer artifacts, not
    answers."""
    global FALLBACKS
    try:
        usaddress.tag(raw)
    except usaddress.RepeatedLabelError:
        FALLBACKS += 1
    out, pos = [], 0
    for token, label in usaddress.parse(raw):
        start = raw.find(token, pos)
        if start < 0:  # the tokenizer rewrote the text ('&amp;'); keep the token itself
            out.append((label, token, None, None))
            continue
        pos = start + len(token)
        out.append((label, token, start, pos))
    return out


FALLBACKS = 0


def answer(raw):
    """Our keys from usaddress's labels: tokens of one key joined in input order, runs of
    adjacent tokens taken as written in the input, separate runs joined with a space."""
    runs = {}  # key -> list of [start, end, text]
    zip_runs, plus4 = [], ""
    last_key, last_label = None, None
    for label, token, start, end in labelled(raw):
        key = LABEL_KEY.get(label)
        if key is None:
            last_key, last_label = None, label
            continue
        if label == "ZipPlus4":
            plus4 += token
        else:
            target = zip_runs if label == "ZipCode" else runs.setdefault(key, [])
            same_key = key == last_key and (label == "ZipCode") == (last_label == "ZipCode")
            if target and same_key and start is not None and target[-1][1] is not None:
                target[-1][1] = end
                target[-1][2] = raw[target[-1][0]:end]
            else:
                target.append([start, end, token])
        last_key, last_label = key, label
    out = {}
    for key, parts in runs.items():
        value = tidy(" ".join(tidy(p[2]) for p in parts))
        if value:
            out[key] = value
    zip5 = tidy(" ".join(p[2] for p in zip_runs))
    if zip5 or plus4:
        out["postcode"] = us_postcode(zip5, tidy(plus4))
    if "country" in out and out["country"].lower().strip(". ") in US_NAMES:
        out["country"] = "US"
    return out


def dumps(d):
    return json.dumps(d, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def main():
    rows = []
    with open(CASES, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            country, raw, expected = line.split("\t")
            exp = json.loads(expected)
            if country != "US" and not (country == "\\N" and exp.get("country") == "US"):
                continue
            rows.append((country, raw, exp, answer(raw)))

    for country, raw, exp, got in rows:
        print("\t".join([country, raw, dumps(exp), dumps(got)]))

    n = len(rows)
    print(f"usaddress.tag raised RepeatedLabelError on {FALLBACKS} rows (parse used)", file=sys.stderr)
    print(f"usaddress {version('usaddress')} on {n} US rows", file=sys.stderr)
    for key in KEYS:
        ok = sum(1 for _, _, exp, got in rows if exp.get(key) == got.get(key))
        print(f"  {key:<13} {ok:>4}/{n}  {100.0 * ok / n:5.1f}%", file=sys.stderr)
    exact = sum(1 for _, _, exp, got in rows if exp == got)
    print(f"  {'whole address':<13} {exact:>4}/{n}  {100.0 * exact / n:5.1f}%", file=sys.stderr)


if __name__ == "__main__":
    main()
