"""The API's JSON in and out, with msgspec: money never becomes a float.

DRF's JSONParser and JSONRenderer go through Python's json module; msgspec
parses and writes the same JSON in a fraction of the time (issue #28's lean
API path), and keeps Decimal exact both ways.
"""

from __future__ import annotations

from decimal import Decimal

import msgspec
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.renderers import BaseRenderer
from rest_framework.utils.encoders import JSONEncoder

# Numbers with a fraction or an exponent become Decimal: `99.99` stays exactly
# 99.99 all the way to the minor-unit conversion. NaN and Infinity are not JSON
# and are refused, as are lone surrogates and trailing commas.
_decoder = msgspec.json.Decoder(float_hook=Decimal)


class DecimalJSONParser(JSONParser):
    """Parses a JSON body; numbers with a fraction or exponent as Decimal."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = (parser_context.get("encoding") or "utf-8").lower()
        try:
            raw = stream.read() if stream is not None else b""
            if not raw:
                return {}
            # msgspec reads UTF-8 bytes; another charset the middleware let
            # through (us-ascii, iso-8859-1) is decoded to text first.
            return _decoder.decode(raw if encoding in ("utf-8", "utf8") else raw.decode(encoding))
        except (msgspec.DecodeError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError("The body is not valid JSON.") from exc


_drf_encoder = JSONEncoder()


def _encode_other(value):
    """What msgspec does not know: subclasses of str (DRF's ErrorDetail,
    SafeString, Hyperlink) as their text; the rest (lazy translations,
    querysets, ...) as DRF's encoder would."""
    if isinstance(value, str):
        return str.__str__(value)  # a plain str: str() would give the subclass back
    return _drf_encoder.default(value)


# A Decimal is written as a JSON number with its exact digits (DRF's encoder
# wrote float(value)); serializers already give money as strings.
_encoder = msgspec.json.Encoder(enc_hook=_encode_other, decimal_format="number")


class JSONRenderer(BaseRenderer):
    """DRF's JSON renderer's output (compact, UTF-8), written by msgspec."""

    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        body = _encoder.encode(data)
        # As DRF does: U+2028 and U+2029 are valid in JSON but end a line in
        # JavaScript, so a body embedded in a script stays one statement.
        if b"\xe2\x80\xa8" in body or b"\xe2\x80\xa9" in body:
            body = body.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
        return body
