from django.urls import path

from telegram import views

app_name = "telegram"

urlpatterns = [
    path("app/", views.app_entry, name="app"),
    path("session/", views.session, name="session"),
    path("contact.json", views.contact, name="contact"),
    path("my-esims/", views.my_esims, name="my-esims"),
    path("webhook/", views.webhook, name="webhook"),
]
