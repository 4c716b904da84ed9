"""``@record`` behaves as the frozen dataclasses it replaces on the start-up paths."""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field

import pytest

from vmplatform.records import FrozenRecordError, field, fields, record, replace


@record
class Point:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    props: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DcPoint:
    x: int
    y: int = 0
    tags: tuple[str, ...] = ()
    props: Mapping[str, str] = dc_field(default_factory=dict)


@record(frozen=False)
class Counter:
    n: int
    seen: list[int] = field(default_factory=list)


@record
class Named:
    name: str

    def __repr__(self) -> str:
        return f"<{self.name}>"


def test_construction_defaults_and_factories() -> None:
    p = Point(1, tags=("a",))
    assert (p.x, p.y, p.tags, p.props) == (1, 0, ("a",), {})
    assert Point(1).props is not Point(1).props           # a fresh default per record
    assert Point(x=2, y=3) == Point(2, 3)
    with pytest.raises(TypeError, match="missing 1 required argument"):
        Point()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Point(1, z=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        Point(1, x=2)  # type: ignore[misc]
    with pytest.raises(TypeError, match="takes 5 positional arguments but 6 were given"):
        Point(1, 2, (), {}, 5)  # type: ignore[call-arg]


def test_equality_hash_and_repr_as_a_frozen_dataclass() -> None:
    a, b = Point(1, 2, ("t",), {}), Point(1, 2, ("t",), {})
    assert a == b and a is not b and Point(1) != Point(2)
    other: object = DcPoint(1, 2, ("t",), {})
    assert a != other                                      # another class is never equal
    assert hash(Point(1, 2, ("t",), None)) == hash(Point(1, 2, ("t",), None))  # type: ignore[arg-type]
    assert repr(a) == repr(DcPoint(1, 2, ("t",), {})).replace("DcPoint", "Point")
    assert repr(Named("n")) == "<n>"                       # a method the class defines stays


def test_frozen_and_mutable() -> None:
    p = Point(1)
    with pytest.raises(FrozenRecordError):
        p.x = 2  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del p.y
    c = Counter(1)
    c.n += 1
    c.seen.append(3)
    assert c == Counter(2, [3])
    with pytest.raises(TypeError):
        hash(c)                                            # mutable and comparable: unhashable


def test_replace_fields_match_and_pickle() -> None:
    p = Point(1, 2)
    assert replace(p, y=5) == Point(1, 5) and p.y == 2
    assert fields(p) == fields(Point) == ("x", "y", "tags", "props")
    match p:
        case Point(x, y):
            assert (x, y) == (1, 2)
    assert pickle.loads(pickle.dumps(p)) == p


def test_a_field_without_default_after_one_with_is_refused() -> None:
    with pytest.raises(TypeError, match="without a default"):
        @record
        class Bad:
            a: int = 0
            b: int  # type: ignore[misc]
