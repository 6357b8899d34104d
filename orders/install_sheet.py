"""The printable install sheet: one PNG with the eSIM's QR code, its codes and the steps, for a
traveller who will be without data (print it, or save it to another phone). Made here with
Pillow and qrcode: the LPA string is a credential and never leaves the server."""

import io
from pathlib import Path

from django.utils.translation import gettext as _
from PIL import Image, ImageDraw, ImageFont

from orders import qr

WIDTH, HEIGHT, MARGIN = 1240, 1754, 90  # A4 at 150 dpi
# Cyrillic needs a real font; Debian's fonts-dejavu-core is there wherever Chromium is. Without
# it Pillow's own font (Latin only) still gives a sheet with a working QR code.
FONT_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/TTF/DejaVuSans.ttf")
BOLD_CANDIDATES = ("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", "/usr/share/fonts/TTF/DejaVuSans-Bold.ttf")


def _font(candidates, size):
    for path in candidates:
        if Path(path).is_file():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)


def _wrapped(draw, text, font, width):
    words, lines, line = text.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) <= width or not line:
            line = candidate
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def render(*, plan: str, lpa: str, smdp_address: str, activation_code: str, iccid: str) -> bytes:
    sheet = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(sheet)
    title, heading, body, mono = (
        _font(BOLD_CANDIDATES, 56),
        _font(BOLD_CANDIDATES, 34),
        _font(FONT_CANDIDATES, 30),
        _font(FONT_CANDIDATES, 28),
    )
    y = MARGIN
    draw.text((MARGIN, y), "esimshop · eSIM", font=title, fill="#1d2433")
    y += 80
    for line in _wrapped(draw, plan, heading, WIDTH - 2 * MARGIN):
        draw.text((MARGIN, y), line, font=heading, fill="#1d2433")
        y += 46
    code = Image.open(io.BytesIO(qr.png(lpa, box_size=12))).convert("RGB")
    code = code.resize((560, 560), Image.NEAREST)
    sheet.paste(code, ((WIDTH - 560) // 2, y + 20))
    y += 610
    for label, value in (
        (_("SM-DP+ address"), smdp_address),
        (_("Activation code"), activation_code),
        (_("ICCID"), iccid),
    ):
        draw.text((MARGIN, y), label, font=body, fill="#545d6e")
        draw.text((MARGIN + 360, y), value, font=mono, fill="#1d2433")
        y += 48
    y += 30
    draw.text((MARGIN, y), _("Install it before you fly, on Wi-Fi"), font=heading, fill="#1d2433")
    y += 56
    steps = [
        _("iPhone: Settings → Cellular → Add eSIM → Use QR Code."),
        _("Samsung: Settings → Connections → SIM manager → Add eSIM → Scan QR code."),
        _("Pixel: Settings → Network & internet → SIMs → Download a SIM instead."),
        _("No camera? Enter the SM-DP+ address and activation code by hand."),
        _("When you land: data roaming ON for the eSIM, OFF for your home SIM (Mobicom, Unitel, Skytel, G-Mobile)."),
        _("The QR code usually works only once: do not delete the eSIM after installing it."),
    ]
    for step in steps:
        for index, line in enumerate(_wrapped(draw, step, body, WIDTH - 2 * MARGIN - 40)):
            draw.text(
                (MARGIN + (0 if index == 0 else 40), y), ("• " if index == 0 else "") + line, font=body, fill="#1d2433"
            )
            y += 42
        y += 8
    buffer = io.BytesIO()
    sheet.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
