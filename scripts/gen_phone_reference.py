#!/usr/bin/env python3
"""Writes tests/data/phone_reference.tsv: realistic messy phone numbers and what Python
`phonenumbers` (libphonenumber's official port, same metadata version as the Rust crate)
answers for them. The Rust tests check `clean_phone` against this file.

Run: python3 -m venv /tmp/pn && /tmp/pn/bin/pip install phonenumbers==9.0.33 &&
     /tmp/pn/bin/python scripts/gen_phone_reference.py > tests/data/phone_reference.tsv
"""
import random
import phonenumbers as pn
from phonenumbers import PhoneNumberFormat as F, PhoneNumberType as T

rng = random.Random(20261123)
REGIONS = ["US", "CA", "GB", "DE", "FR", "IT", "ES", "NL", "BE", "CH", "AT", "SE", "NO", "DK", "PL",
           "IE", "PT", "IN", "AU", "NZ", "BR", "MX", "AR", "JP", "CN", "KR", "SG", "ZA", "NG", "AE",
           "RU", "TR", "IL", "PH", "ID"]
TYPES = [T.FIXED_LINE, T.MOBILE, T.TOLL_FREE]


def prepare(s):
    """What clean_phone does before parsing: trim, drop tel:, leading 00 -> +."""
    s = s.strip()
    if s[:4].lower() == "tel:":
        s = s[4:].lstrip()
    i = next((k for k, c in enumerate(s) if c.isdigit() or c == "+"), None)
    if i is not None and s[i:].startswith("00") and all(c == "(" or c.isspace() for c in s[:i]):
        return "+" + s[i + 2:]
    return s


def answer(raw, region):
    s = prepare(raw)
    try:
        n = pn.parse(s, region)
    except pn.NumberParseException:
        return None
    return pn.format_number(n, F.E164) if pn.is_valid_number(n) else None


def mutate_digits(national, keep=3):
    d = list(national)
    for k in range(keep, len(d)):
        d[k] = str(rng.randrange(10))
    return "".join(d)


def shapes(n, region):
    e164 = pn.format_number(n, F.E164)
    nat = pn.format_number(n, F.NATIONAL)
    intl = pn.format_number(n, F.INTERNATIONAL)
    digits = "".join(c for c in nat if c.isdigit())
    cc = str(n.country_code)
    out = [nat, intl, e164, digits, "tel:" + e164, nat.replace(" ", "-"), nat.replace(" ", "."),
           intl.replace(" ", ""), "00" + e164[1:], nat + " ext. " + str(rng.randrange(1, 999)),
           nat + " x" + str(rng.randrange(1, 99)), "(" + digits[:3] + ") " + digits[3:],
           "+" + cc + " (0)" + intl.split(" ", 1)[1] if " " in intl else intl]
    return out


rows = []
for _ in range(260):
    region = rng.choice(REGIONS)
    kind = rng.choice(TYPES)
    ex = pn.example_number_for_type(region, kind)
    if ex is None:
        continue
    nsn = pn.national_significant_number(ex)
    for _ in range(2):
        candidate = mutate_digits(nsn, keep=min(4, len(nsn) - 2))
        try:
            n = pn.parse("+" + str(ex.country_code) + candidate, None)
        except pn.NumberParseException:
            continue
        for raw in shapes(n, region):
            rows.append((raw, region))
        # near misses: a digit dropped or added
        rows.append((pn.format_number(n, F.NATIONAL)[:-1], region))
        rows.append((pn.format_number(n, F.NATIONAL) + "7", region))
        # dialled from elsewhere
        rows.append((pn.format_number(n, F.INTERNATIONAL), rng.choice(REGIONS)))

for raw, region in rows:
    expected = answer(raw, region)
    print("\t".join([raw, region, expected if expected else "\\N"]))
