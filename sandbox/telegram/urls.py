"""Mounted at /sandbox/telegram/ (sandbox/urls.py): TELEGRAM_BOT_API_BASE_URL = SITE_URL/sandbox/telegram in sandbox mode."""

from django.urls import path, re_path

from sandbox.telegram import views

app_name = "sandbox_telegram"

urlpatterns = [
    path("", views.chat, name="chat"),
    path("share-contact/", views.share_contact, name="share-contact"),
    re_path(r"^bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$", views.bot_method, name="bot-method"),
]
