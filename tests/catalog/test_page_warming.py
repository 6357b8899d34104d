"""After a catalogue change the popular pages are rendered under the next version first, and
visitors only switch to it once they are warm: nobody renders a popular page cold."""

import threading

import pytest
from django.conf import settings
from django.test import Client

from catalog import page_cache, page_warming
from catalog.page_cache import CACHE_STATUS_HEADER as CACHE

from .factories import BundleFactory, CountryFactory, RegionFactory, refresh_country_stats

pytestmark = pytest.mark.django_db

BUNDLE = "esim_1GB_7D_MN_V2"


@pytest.fixture
def catalogue():
    asia = RegionFactory(name="Asia", slug="asia")
    for iso in ("MN", "JP"):
        CountryFactory(iso=iso, region=asia)
    BundleFactory(name=BUNDLE, countries=["MN"], computed_price_mnt=4500)
    BundleFactory(name="esim_5GB_15D_JP_V2", countries=["JP"], data_amount_mb=5000, computed_price_mnt=20000)
    refresh_country_stats()


def visit(path, language):
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client.get(path)


def test_the_popular_pages_are_the_storefront_a_shopper_lands_on(catalogue):
    paths = page_warming.popular_paths()
    assert paths[:2] == ["/", "/countries/"]
    assert {"/regions/asia/", "/regions/global/", "/countries/MN/", "/countries/JP/", f"/bundles/{BUNDLE}/"} <= set(
        paths
    )


def test_after_warming_every_popular_page_is_a_hit_in_every_language(catalogue):
    before = page_cache.catalogue_version()
    result = page_warming.warm_and_switch()
    assert result.switched and result.failed == []
    assert result.rendered == len(page_warming.popular_paths()) * len(settings.LANGUAGES)
    assert page_cache.catalogue_version() == result.version != before
    for path in page_warming.popular_paths():
        for language, _ in settings.LANGUAGES:
            response = visit(path, language)
            assert response.status_code == 200 and response[CACHE] == "hit", (path, language)
            assert response["Content-Language"] == language


def test_until_the_switch_visitors_keep_the_previous_pages(catalogue, monkeypatch):
    assert visit("/", "mn")[CACHE] == "miss"
    seen_during_warming = []

    class ClientWithAVisitor(Client):
        def get(self, *args, **kwargs):
            if not seen_during_warming:  # a shopper arrives (in another thread) while we render
                shopper = threading.Thread(target=lambda: seen_during_warming.append(visit("/", "mn")[CACHE]))
                shopper.start()
                shopper.join()
            return super().get(*args, **kwargs)

    monkeypatch.setattr(page_warming, "Client", ClientWithAVisitor)
    page_warming.warm_and_switch()
    assert seen_during_warming == ["hit"]  # the old version's page, not a cold render
    assert visit("/", "mn")[CACHE] == "hit"  # and the new one is warm


def test_a_change_committed_during_warming_keeps_the_version(catalogue, monkeypatch):
    """Pages rendered before a later change must not go live; that change's own warming will."""
    before = page_cache.catalogue_version()

    def a_change_lands_meanwhile():
        page_warming._count_change()
        return ["/"]

    monkeypatch.setattr(page_warming, "popular_paths", a_change_lands_meanwhile)
    result = page_warming.warm_and_switch()
    assert not result.switched and page_cache.catalogue_version() == before


def test_a_change_queues_the_warming_after_commit(catalogue, settings, monkeypatch, django_capture_on_commit_callbacks):
    from catalog import tasks
    from esimshop.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False
    queued = []
    monkeypatch.setattr(app, "send_task", lambda name, *args, **kwargs: queued.append(name))
    before = page_cache.catalogue_version()
    with django_capture_on_commit_callbacks(execute=True):
        page_warming.catalogue_changed()
        assert queued == []
    assert queued == [tasks.warm_storefront_task.name]
    assert page_cache.catalogue_version() == before  # the task switches, not the commit


def test_in_process_mode_expires_the_pages_at_once(catalogue, settings, django_capture_on_commit_callbacks):
    settings.CELERY_TASK_ALWAYS_EAGER = True
    before = page_cache.catalogue_version()
    with django_capture_on_commit_callbacks(execute=True):
        page_warming.catalogue_changed()
    assert page_cache.catalogue_version() != before


def test_no_broker_expires_the_pages_instead(catalogue, settings, monkeypatch, django_capture_on_commit_callbacks):
    from esimshop.celery import app

    settings.CELERY_TASK_ALWAYS_EAGER = False

    def broker_down(name, *args, **kwargs):
        raise ConnectionError("no broker")

    monkeypatch.setattr(app, "send_task", broker_down)
    before = page_cache.catalogue_version()
    with django_capture_on_commit_callbacks(execute=True):
        page_warming.catalogue_changed()
    assert page_cache.catalogue_version() != before
