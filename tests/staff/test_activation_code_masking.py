"""Issue 9: support sees activation codes masked in the admin; finance and superusers may reveal
one, and every reveal is recorded in the audit trail."""

import pytest

from staff.models import StaffAction
from tests.orders.factories import DeliveredOrderFactory

pytestmark = pytest.mark.django_db


def _esim_pages(client, order):
    return (
        client.get(f"/admin/orders/esim/{order.esim.pk}/change/").content.decode()
        + client.get(f"/admin/orders/order/{order.pk}/change/").content.decode()
    )


def test_support_sees_the_code_masked_everywhere_and_cannot_reveal(client, member):
    order = DeliveredOrderFactory()
    code = order.esim.matching_id
    client.force_login(member("support"))
    html = _esim_pages(client, order)
    assert code not in html and order.esim.masked_matching_id in html
    assert order.get_absolute_url() not in html  # the eSIM page would show the code
    assert client.get(f"/admin/orders/esim/{order.esim.pk}/reveal/").status_code == 403
    assert client.post(f"/admin/orders/esim/{order.esim.pk}/reveal/").status_code == 403
    assert not StaffAction.objects.filter(action="esim.reveal_activation_code").exists()


@pytest.mark.parametrize("who", ["finance", "superuser"])
def test_finance_and_superusers_reveal_and_each_reveal_is_audited(client, member, django_user_model, who):
    order = DeliveredOrderFactory()
    code = order.esim.matching_id
    user = member("finance") if who == "finance" else django_user_model.objects.create_superuser("root", password="x")
    client.force_login(user)
    assert code not in _esim_pages(client, order)  # masked until asked for
    assert code not in client.get(f"/admin/orders/esim/{order.esim.pk}/reveal/").content.decode()  # GET only asks
    for _ in range(2):
        revealed = client.post(f"/admin/orders/esim/{order.esim.pk}/reveal/")
        assert revealed.status_code == 200 and code in revealed.content.decode()
    audit = StaffAction.objects.filter(action="esim.reveal_activation_code", username=user.username)
    assert audit.count() == 2 and audit.first().object_id == str(order.esim.pk)
