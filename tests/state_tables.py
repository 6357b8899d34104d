"""Pinning a model's state table (esimshop.state_machine): each allowed transition from each of its
source states moves the row and records it; from every other state it raises the one exception
(or, in the conditional form, returns False) and changes and records nothing."""

import pytest

from esimshop.state_machine import IllegalTransition, StateTable, apply_transition, try_transition


def as_plain(table: StateTable) -> dict:
    return {name: ({str(s) for s in step.sources}, str(step.target)) for name, step in table.items()}


def states_of(table: StateTable) -> list[str]:
    return [value for value, _label in table.model._meta.get_field(table.field).choices]


def _records(table: StateTable, obj):
    fk = next(f.name for f in table.record_model._meta.fields if getattr(f, "related_model", None) is table.model)
    return table.record_model.objects.filter(**{fk: obj})


def check_transition(table: StateTable, name: str, make, *, conditional: bool = False) -> None:
    """`make(state)` returns a saved row in that state. Tries `name` from every state."""
    step = table[name]
    for state in states_of(table):
        obj = make(state)
        before = _records(table, obj).count()
        if state in step.sources:
            if conditional:
                assert try_transition(table.model, obj.pk, name, by="test", reason="pinned") is True
            else:
                apply_transition(obj, name, by="test", reason="pinned")
            obj.refresh_from_db()
            assert getattr(obj, table.field) == step.target, (name, state)
            records = _records(table, obj)
            assert records.count() == before + 1, (name, state)
            record = records.order_by("-id").first()
            assert (record.name, record.from_status, record.to_status, record.actor, record.cause) == (
                name,
                state,
                step.target,
                "test",
                "pinned",
            )
        else:
            if conditional:
                assert try_transition(table.model, obj.pk, name, by="test") is False, (name, state)
            else:
                with pytest.raises(IllegalTransition):
                    apply_transition(obj, name, by="test")
            obj.refresh_from_db()
            assert getattr(obj, table.field) == state, (name, state)
            assert _records(table, obj).count() == before, (name, state)
