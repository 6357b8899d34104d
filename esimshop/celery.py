import os

from celery import Celery
from kombu import Queue

from esimshop.beat import beat_schedule

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "esimshop.settings")

app = Celery("esimshop")
app.config_from_object("django.conf:settings", namespace="CELERY")

# Two queues: `provisioning` (a paid order's eSIM purchase) and the default `celery` (payment
# checks, e-mails, sweeps, catalogue sync). Production runs a worker for each (Procfile
# `worker` and `provisioning`), so slow QPay checks or an e-mail backlog never delay a paid
# order. A worker started without -Q (bin/run, tests, the chaos run) consumes both.
PROVISIONING_QUEUE = "provisioning"
app.conf.task_default_queue = "celery"
app.conf.task_queues = (Queue("celery"), Queue(PROVISIONING_QUEUE))
app.conf.task_routes = {"orders.tasks.provision_order_task": {"queue": PROVISIONING_QUEUE}}


@app.on_after_configure.connect
def _periodic_tasks(sender, **kwargs):
    # Built here, not at import: beat_schedule() reads Django settings, configured only by now.
    sender.conf.beat_schedule = beat_schedule()


app.autodiscover_tasks()

# A worker whose consumer crashed exits instead of hanging in its shutdown (esimshop/worker_exit.py).
import esimshop.worker_exit  # noqa: E402,F401 - registers its worker_ready handler
