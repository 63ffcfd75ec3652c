"""Parsing what users pass to :func:`dia.track` (parents in every accepted form).

>>> [(p.model_id, p.relation.value) for p in parse_parents(["org/a:lora", ("org/b", "merge")])]
[('org/a', 'adapter'), ('org/b', 'merge')]
"""

from __future__ import annotations

from typing import Any

from dia.record.report import Parent


def parse_parents(parents: Any) -> list[Parent]:
    """``"org/name"``, ``"org/name:relation"``, ``(id, relation)``, dicts or Parent objects."""
    from dia.link.relations import parse_parent_spec

    if parents is None:
        return []
    if isinstance(parents, (str, Parent, dict)) or _is_pair(parents):
        parents = [parents]
    out: list[Parent] = []
    for p in parents:
        if isinstance(p, Parent):
            out.append(p)
        elif isinstance(p, dict):
            out.append(_parent_from_dict(p))
        else:
            mid, rel, method = parse_parent_spec(p)
            out.append(Parent(model_id=mid, relation=rel, method=method))
    return out


def _parent_from_dict(data: dict[str, Any]) -> Parent:
    """A parent given as a mapping; a bad one is one line naming the field, not pydantic's dump."""
    from pydantic import ValidationError

    from dia.errors import InvalidArgumentError

    try:
        return Parent.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or "parent"
        raise InvalidArgumentError(f"parent {data!r}: {field}: {first['msg']}") from None


def _is_pair(value: Any) -> bool:
    """``("org/name", "adapter")`` is one parent with its relation, not two parents."""
    from dia.errors import UnknownRelationError
    from dia.link.relations import parse_relation

    if not (isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value)):
        return False
    try:
        parse_relation(value[1])
    except UnknownRelationError:
        return False
    return True
