from itertools import groupby

from shopinfo.models import Device, HelpPage


def published_pages():
    return list(HelpPage.objects.filter(is_published=True))


def published_page(slug: str) -> HelpPage | None:
    return HelpPage.objects.filter(slug=slug, is_published=True).first()


def devices_by_brand() -> list[tuple[str, list[Device]]]:
    devices = Device.objects.filter(is_listed=True)
    return [(brand, list(group)) for brand, group in groupby(devices, key=lambda d: d.get_brand_display())]
