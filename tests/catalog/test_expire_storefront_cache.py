from django.core.management import call_command

from catalog.page_cache import catalogue_version


def test_release_command_moves_the_storefront_cache_version(db, capsys):
    before = catalogue_version()
    call_command("expire_storefront_cache")
    assert catalogue_version() != before
    assert "storefront cache version is now" in capsys.readouterr().out
