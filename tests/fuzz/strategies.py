"""Hypothesis strategies for hostile input: wrong JSON types, control characters (NUL included),
huge numbers, non-ASCII, and now and then a value that is exactly right."""

import json
import string
from urllib.parse import quote

from hypothesis import strategies as st

# Text as a client can send it: any code point a UTF-8 body can carry (NUL and controls included).
any_text = st.text(max_size=80)
short_text = st.text(max_size=12)
# Header values reach Django as latin-1 (PEP 3333): a real server cannot hand over anything else.
latin1_text = st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255), max_size=20)
ascii_junk = st.text(alphabet=string.printable, max_size=40)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    any_text,
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3), st.dictionaries(short_text, children, max_size=3)),
    max_leaves=8,
)
# What json.dumps cannot write but a raw body can say: NaN, Infinity, huge exponents.
json_number_literals = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e999", "-0", "0.0", "1E400", "1" * 400])

http_methods = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "text/plain",
        "application/xml",
        "",
        "application/json; charset=latin-1",
    ]
)
raw_bodies = st.one_of(
    st.binary(max_size=200),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.builds(lambda a, b: (a + b).encode("utf-8", "surrogatepass"), any_text, any_text),
)

query_params = st.dictionaries(
    st.one_of(short_text, st.sampled_from(["token", "qpay_payment_id", "payment_id", "country", "amount"])),
    st.one_of(any_text, st.lists(short_text, min_size=2, max_size=3)),
    max_size=4,
)

accept_languages = st.one_of(
    st.none(),
    st.sampled_from(["mn", "en", "en-US,en;q=0.9", "*", "zz", "en;q=abc", "mn-MN;q=2", ",,,;"]),
    ascii_junk,
)


def path_segment(text: str) -> str:
    """A URL path segment that the resolver will see decoded back to `text`."""
    return quote(text, safe="") or "x"


def valid_email():
    return st.emails().filter(lambda e: len(e) <= 254)
