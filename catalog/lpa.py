"""LPA activation strings and one-tap install links (docs/providers/esimgo.md, Install details).

LPA string: `LPA:1$<SM-DP+ address>$<matching ID>`. eSIM Go returns bare hostnames for
`smdpAddress`, but its spec examples carry a scheme (`http://smdp.example.com`), so any
scheme, path and surrounding whitespace are stripped.

One-tap links carry the LPA URL-encoded in `carddata` (the safer of the two forms seen in
the wild): Apple's universal link works from iOS 17.4; Android's is a de-facto convention,
best-effort, so pages keep the QR code and manual codes as fallback.
"""

from urllib.parse import quote, urlsplit

APPLE_INSTALL_BASE = "https://esimsetup.apple.com/esim_qrcode_provisioning?carddata="
ANDROID_INSTALL_BASE = "https://esimsetup.android.com/esim_qrcode_provisioning?carddata="


def smdp_host(smdp_address: str) -> str:
    """The bare SM-DP+ host (keeps a :port if one is given)."""
    address = (smdp_address or "").strip()
    if "://" in address:
        address = urlsplit(address).netloc
    address = address.split("/", 1)[0].strip()
    if not address:
        raise ValueError("SM-DP+ address is empty")
    return address


def build_lpa(smdp_address: str, matching_id: str) -> str:
    matching_id = (matching_id or "").strip()
    if not matching_id:
        raise ValueError("matching ID is empty")
    if "$" in matching_id:
        raise ValueError("matching ID must not contain '$'")
    return f"LPA:1${smdp_host(smdp_address)}${matching_id}"


def apple_install_url(lpa: str) -> str:
    return APPLE_INSTALL_BASE + quote(lpa, safe="")


def android_install_url(lpa: str) -> str:
    return ANDROID_INSTALL_BASE + quote(lpa, safe="")
