from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [("orders", "0006_order_access_token")]

    operations = [
        migrations.AlterModelOptions(
            name="esim",
            options={"verbose_name": "eSIM", "verbose_name_plural": "eSIMs",
                     "permissions": [("reveal_activation_code", "Can reveal an eSIM's activation code")]},
        ),
    ]
