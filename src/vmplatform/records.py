"""The model's records: typed, immutable value classes, cheap to define.

``@record`` reads a class's annotated fields like ``@dataclasses.dataclass``
and gives it the same ``__init__`` (positional or keyword, defaults,
:func:`field` with ``default_factory``), ``__eq__`` and ``__hash__`` over
the fields in order, ``__repr__`` and ``__match_args__``; ``frozen=True``
(the default) makes assignment raise :class:`FrozenRecordError`. Type
checkers see it through :func:`typing.dataclass_transform`.

It exists for start-up: the commands on every VM start (the libvirt hook,
``vmplatform probe``, the QEMU front-end) define a few dozen records. Each
dataclass compiles six methods when its module is imported, and importing
:mod:`dataclasses` pulls in :mod:`inspect` (with ast, dis and tokenize);
together that was most of a hook call. A record compiles nothing: its
methods are shared functions that read the field names the decorator stored
(an ``__init__`` call costs about a microsecond more than a generated one;
the hot paths make a few hundred records, and would define a few dozen
classes). :func:`replace` and :func:`fields` stand in for their
:mod:`dataclasses` namesakes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, dataclass_transform, overload

T = TypeVar("T")

_FIELDS = "__record_fields__"
_MISSING = object()


class FrozenRecordError(AttributeError):
    """An attribute of a frozen record was assigned or deleted."""


class _Factory:
    __slots__ = ("make",)

    def __init__(self, make: Callable[[], object]) -> None:
        self.make = make


@overload
def field(*, default: T) -> T: ...
@overload
def field(*, default_factory: Callable[[], T]) -> T: ...
def field(*, default: object = None, default_factory: Callable[[], object] | None = None) -> Any:
    """A field's default: a value, or a ``default_factory`` called for each new record."""
    return default if default_factory is None else _Factory(default_factory)


def fields(obj: object) -> tuple[str, ...]:
    """The names of a record's (or record class's) fields, in order."""
    names: tuple[str, ...] = getattr(obj, _FIELDS)
    return names


def replace(obj: T, /, **changes: Any) -> T:
    """A copy of the record ``obj`` with ``changes`` (field name -> new value)."""
    for name in fields(obj):
        if name not in changes:
            changes[name] = getattr(obj, name)
    return type(obj)(**changes)


def _frozen_setattr(self: object, name: str, value: object) -> None:
    raise FrozenRecordError(f"cannot assign to field {name!r} of {type(self).__name__}")


def _frozen_delattr(self: object, name: str) -> None:
    raise FrozenRecordError(f"cannot delete field {name!r} of {type(self).__name__}")


def _key(self: object) -> tuple[object, ...]:
    return tuple([getattr(self, name) for name in getattr(self, _FIELDS)])


def _eq(self: object, other: object) -> object:
    if other.__class__ is not self.__class__:
        return NotImplemented
    return self is other or _key(self) == _key(other)


def _hash(self: object) -> int:
    return hash(_key(self))


def _repr(self: object) -> str:
    inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in getattr(self, _FIELDS))
    return f"{type(self).__qualname__}({inner})"


def _init_of(cls: type, names: tuple[str, ...]) -> Callable[..., None]:
    """The record's ``__init__``: the fields by position or keyword, then the defaults, in one shared
    function (dataclasses compile one per class, a compilation per class at import)."""
    count = len(names)
    known = frozenset(names)
    required: list[str] = []
    defaults: list[tuple[str, object]] = []        # (name, default) for fields with a plain default
    factories: list[tuple[str, Callable[[], object]]] = []
    for name in names:
        default = cls.__dict__.get(name, _MISSING)
        if isinstance(default, _Factory):
            factories.append((name, default.make))
            delattr(cls, name)                     # no class attribute: like dataclasses
        elif default is not _MISSING:
            defaults.append((name, default))
        elif defaults or factories:
            raise TypeError(f"{cls.__name__}: field {name!r} without a default follows one with a default")
        else:
            required.append(name)
    qualname = f"{cls.__qualname__}.__init__"

    def __init__(self: object, *args: object, **kwargs: object) -> None:
        values = kwargs
        if args:
            if len(args) > count:
                raise TypeError(f"{qualname}() takes {count + 1} positional arguments but {len(args) + 1} were "
                                "given")
            values = dict(zip(names, args, strict=False))   # fewer positional arguments than fields
            if kwargs:
                for name in kwargs.keys() & values.keys():
                    raise TypeError(f"{qualname}() got multiple values for argument {name!r}")
                values.update(kwargs)
        if not known.issuperset(values):
            name = next(name for name in values if name not in known)
            raise TypeError(f"{qualname}() got an unexpected keyword argument {name!r}")
        if len(values) < count:
            for name, default in defaults:
                values.setdefault(name, default)
            for name, make in factories:
                if name not in values:
                    values[name] = make()
            if len(values) < count:
                missing = [name for name in required if name not in values]
                raise TypeError(f"{qualname}() missing {len(missing)} required argument(s): "
                                + ", ".join(repr(m) for m in missing))
        self.__dict__.update(values)   # in any order: repr, equality and fields() follow the fields' order

    __init__.__qualname__ = qualname
    return __init__


def _make(cls: type[T], frozen: bool, eq: bool) -> type[T]:
    names = tuple(cls.__dict__.get("__annotations__", {}))
    init = _init_of(cls, names)
    own = cls.__dict__
    # like dataclasses: a method the class defines itself stays (a class body with __eq__ and without
    # __hash__ has __hash__ None, which is not its own)
    explicit_hash = own.get("__hash__", None) is not None or ("__hash__" in own and "__eq__" not in own)
    methods: dict[str, object] = {"__init__": init, "__repr__": _repr, "__match_args__": names}
    if eq:
        methods["__eq__"] = _eq
        if not explicit_hash:
            methods["__hash__"] = _hash if frozen else None
    if frozen:
        if "__setattr__" in own or "__delattr__" in own:
            raise TypeError(f"{cls.__name__}: a frozen record defines no __setattr__ or __delattr__")
        methods.update(__setattr__=_frozen_setattr, __delattr__=_frozen_delattr)
    setattr(cls, _FIELDS, names)
    for attr, value in methods.items():
        if attr not in own or attr == "__hash__":
            setattr(cls, attr, value)
    return cls


@overload
def record(cls: type[T], /) -> type[T]: ...
@overload
def record(*, frozen: bool = True, eq: bool = True) -> Callable[[type[T]], type[T]]: ...
@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def record(cls: type[T] | None = None, /, *, frozen: bool = True,
           eq: bool = True) -> type[T] | Callable[[type[T]], type[T]]:
    """Make ``cls`` a record (see the module's docstring): ``@record`` or ``@record(frozen=False)``."""
    if cls is None:
        return lambda c: _make(c, frozen, eq)
    return _make(cls, frozen, eq)
