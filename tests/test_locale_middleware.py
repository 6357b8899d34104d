def test_mongolian_is_the_default_even_for_an_english_browser(client, db):
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")
    assert response["Content-Language"] == "mn"


def test_the_switcher_choice_wins(client, db):
    client.get("/lang/en/", {"next": "/"})
    response = client.get("/", HTTP_ACCEPT_LANGUAGE="mn")
    assert response["Content-Language"] == "en"


def test_an_unknown_cookie_value_falls_back_to_mongolian(client, db):
    client.cookies["django_language"] = "xx"
    assert client.get("/")["Content-Language"] == "mn"


def test_api_clients_may_ask_for_english_by_header(client, db):
    response = client.get("/api/packages/", {"country": "ZZ"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Language"] == "en"
