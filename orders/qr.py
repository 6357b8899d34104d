"""QR codes generated locally (never by a third-party service: the LPA string is a credential)."""

import io

import qrcode
import qrcode.image.svg
from qrcode.constants import ERROR_CORRECT_M


def _code(data: str) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=2)
    code.add_data(data)
    code.make(fit=True)
    return code


def svg(data: str) -> str:
    """Inline <svg> markup (scales cleanly, no extra request)."""
    image = _code(data).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    markup = image.to_string(encoding="unicode")
    if markup.startswith("<?xml"):
        markup = markup.split("?>", 1)[1].lstrip()
    return markup


def png(data: str, *, box_size: int = 8) -> bytes:
    """PNG bytes (for the e-mail's inline CID image)."""
    code = _code(data)
    code.box_size = box_size
    buffer = io.BytesIO()
    code.make_image(fill_color="black", back_color="white").save(buffer, format="PNG")
    return buffer.getvalue()
