"""The one way a stateful model changes state: a named transition from its table, under the row
lock, recorded.

Each stateful model declares its table next to it (`StateTable(Model, record=..., transitions=...)`
in its models.py): transition name → (states it may start from, state it ends in). Two forms
apply a transition, and nothing else writes a status:

- `apply_transition(obj, name, by=..., reason=...)`: for a caller that decides under the row lock.
  It takes the lock itself (SELECT ... FOR UPDATE; free if the caller already holds it), refuses a
  stale object (its status is not the row's), checks the table, saves the status with the given
  changes and writes one record row, all in one transaction (a savepoint inside the caller's).
- `try_transition(Model, pk, name, by=..., reason=...)`: the conditional form, for claims that
  decide a race without the caller holding a lock (e-mail send claims, compare-and-set of
  provisioning attempts). The UPDATE is filtered on the source state, so of N concurrent callers
  exactly one gets True; the loser changes and records nothing.

Either way an illegal transition raises `IllegalTransition` (one exception for every model;
payments.services.IllegalTransition and orders.models.InvalidTransition are this class) and
changes nothing.

Why not a library: django-fsm is archived; its successor django-fsm-2 puts each transition on a
decorated model method (the table is spread over methods), changes every status field to its own
FSMField, and neither locks the row, offers a conditional-UPDATE form for claims nor records
(django-fsm-log adds a generic-foreign-key log). viewflow's fsm brings a workflow framework.
What is needed here is a dict, a lock and an insert.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from django.apps import apps
from django.conf import settings
from django.db import models, transaction

logger = logging.getLogger(__name__)


class IllegalTransition(Exception):
    """The transition is unknown, not allowed from the current state, or the object was stale."""


class Transition(NamedTuple):
    # A tuple, so `sources, target = table[name]` reads like the dicts it replaces.
    sources: frozenset[str]
    target: str


_TABLES: dict[type[models.Model], StateTable] = {}


class StateTable(Mapping[str, Transition]):
    """name → Transition for one model's state field, and where its transitions are recorded.

    `record` is the history model ("app_label.ModelName" or the class): it has a foreign key to
    the model and the TransitionRecord fields (name, from_status, to_status, cause, actor and,
    when it has one, actor_user)."""

    def __init__(
        self,
        model: type[models.Model],
        *,
        record: str | type[models.Model],
        transitions: Mapping[str, tuple[Iterable[str], str]],
        field: str = "status",
    ):
        self.model = model
        self.field = field
        self._record = record
        self._transitions = {
            name: Transition(frozenset(str(s) for s in sources), str(target))
            for name, (sources, target) in transitions.items()
        }
        states = {str(value) for value, _label in model._meta.get_field(field).choices or ()}
        for name, step in self._transitions.items():
            unknown = (step.sources | {step.target}) - states
            if states and unknown:
                raise ValueError(f"{model.__name__} transition {name!r} names unknown states {sorted(unknown)}")
        _TABLES[model] = self

    def __getitem__(self, name: str) -> Transition:
        return self._transitions[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._transitions)

    def __len__(self) -> int:
        return len(self._transitions)

    def name_for(self, target: str) -> str:
        """The one transition that ends in `target` (for compare-and-set sites that name states)."""
        names = [name for name, step in self._transitions.items() if step.target == target]
        if len(names) != 1:
            raise IllegalTransition(f"{self.model.__name__}: {len(names)} transitions end in {target!r}")
        return names[0]

    def step(self, name: str) -> Transition:
        try:
            return self._transitions[name]
        except KeyError:
            raise IllegalTransition(f"{self.model.__name__}: unknown transition {name!r}") from None

    @property
    def record_model(self) -> type[models.Model]:
        if isinstance(self._record, str):
            self._record = apps.get_model(self._record)
        return self._record

    def record(self, pk, name: str, from_status: str, to_status: str, *, by: str, reason: str, user=None):
        record = self.record_model
        fk = next(
            f.name for f in record._meta.fields if isinstance(f, models.ForeignKey) and f.related_model is self.model
        )
        fields = {
            record._meta.get_field(fk).attname: pk,
            "name": name,
            "from_status": from_status,
            "to_status": to_status,
            "cause": reason[: record._meta.get_field("cause").max_length],
            "actor": by[: record._meta.get_field("actor").max_length],
        }
        if user is not None and getattr(user, "pk", None) and _has_field(record, "actor_user"):
            fields["actor_user"] = user
        return record.objects.create(**fields)


def table_for(model: type[models.Model]) -> StateTable:
    for klass in model.__mro__:
        if klass in _TABLES:
            return _TABLES[klass]
    raise IllegalTransition(f"{model.__name__} has no state table")


def _has_field(model, name: str) -> bool:
    return any(f.name == name for f in model._meta.fields)


def _auto_now_fields(model) -> list[str]:
    return [f.name for f in model._meta.fields if getattr(f, "auto_now", False)]


def apply_transition(
    obj: models.Model,
    name: str,
    *,
    by: str,
    reason: str = "",
    user=None,
    save_all: bool = False,
    **changes: Any,
):
    """Move `obj` along transition `name` under its row lock, save it and record it.

    `changes` are set on the object and saved with the status. `save_all` saves every field
    (for callers that set other attributes on the locked object before the transition).
    Returns the record row. Raises IllegalTransition, changing nothing, when the table does not
    allow it from the row's state or `obj` no longer has the row's state.
    """
    table = table_for(type(obj))
    step = table.step(name)
    with transaction.atomic():  # a savepoint when the caller has a transaction: a refusal undoes nothing of theirs
        current = (
            type(obj)._default_manager.select_for_update().filter(pk=obj.pk).values_list(table.field, flat=True).first()
        )
        held = getattr(obj, table.field)
        if current != held:
            raise IllegalTransition(f"{name}: {type(obj).__name__} {obj.pk} is {current} in the database, not {held}")
        if current not in step.sources:
            raise IllegalTransition(
                f"{name}: {type(obj).__name__} {obj.pk} is {current}, needs one of {sorted(step.sources)}"
            )
        setattr(obj, table.field, step.target)
        for attr, value in changes.items():
            setattr(obj, attr, value)
        if save_all:
            obj.save()
        else:
            obj.save(update_fields=[table.field, *changes, *_auto_now_fields(type(obj))])
        record = table.record(obj.pk, name, current, step.target, by=by, reason=reason, user=user)
    _log(obj, name, current, step.target, by, reason)
    return record


def try_transition(
    model: type[models.Model],
    pk,
    name: str,
    *,
    by: str,
    reason: str = "",
    user=None,
    only_from: Iterable[str] | None = None,
    **changes: Any,
) -> bool:
    """The conditional form: move row `pk` along `name` if it is in one of the transition's
    source states (narrowed by `only_from`), and record it. Returns whether it moved.

    A conditional UPDATE filtered on the state read under the row lock decides the race on any
    database (on SQLite, where FOR UPDATE is a no-op, the filter alone does); a row not in a source
    state is left alone and False returned, never an exception: losing a claim is not an error.
    `changes` may hold expressions (F("attempts") + 1); they are written by the same UPDATE.
    """
    return _try(model._default_manager.filter(pk=pk), name, by, reason, user, only_from, changes)


def try_transition_each(
    queryset: models.QuerySet, name: str, *, by: str, reason: str = "", user=None, **changes: Any
) -> int:
    """The conditional form for every row of `queryset` (few rows: sweeps re-opening stuck claims,
    an order's open attempts). The queryset's conditions hold at the moment each row moves (a
    claim renewed since the candidates were listed is left alone). Returns how many moved."""
    return sum(
        _try(queryset.filter(pk=pk), name, by, reason, user, None, changes)
        for pk in queryset.values_list("pk", flat=True)
    )


def _try(row: models.QuerySet, name, by, reason, user, only_from, changes) -> bool:
    table = table_for(row.model)
    step = table.step(name)
    sources = step.sources if only_from is None else step.sources & {str(s) for s in only_from}
    with transaction.atomic():
        found = row.select_for_update(of=("self",)).values_list("pk", table.field).first()
        if found is None or found[1] not in sources:
            return False
        pk, current = found
        if not row.filter(**{table.field: current}).update(**{table.field: step.target}, **changes):
            return False
        table.record(pk, name, current, step.target, by=by, reason=reason, user=user)
    _log(row.model, name, current, step.target, by, reason, pk=pk)
    return True


def _log(obj, name, from_status, to_status, by, reason, *, pk=None) -> None:
    label = obj.__name__ if isinstance(obj, type) else type(obj).__name__
    logger.debug(
        "%s %s %s: %s -> %s (%s; %s)", label, pk if pk is not None else obj.pk, name, from_status, to_status, by, reason
    )


class TransitionRecord(models.Model):
    """The fields every transition history row has (the foreign key is the concrete model's)."""

    name = models.CharField(max_length=32)
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20)
    cause = models.CharField(max_length=500, blank=True)
    actor = models.CharField(max_length=150, help_text='"task", "sweep", "system" or "staff:<username>".')
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]

    def __str__(self):
        return f"{self.from_status or '∅'} → {self.to_status} ({self.name}, {self.actor})"
