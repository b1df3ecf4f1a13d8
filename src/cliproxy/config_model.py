"""The little of pydantic that ``config.py`` uses: frozen sections validated from YAML data.

Why not pydantic itself: it is the largest import of a running server (pydantic-core, the schema
modules, ``importlib.metadata`` for plugins: about 8 MiB resident), for one small file read at
start and on reload. Sections are declared exactly as pydantic models are (annotations, defaults,
``Field(...)``, ``@field_validator``) and validated by pydantic's lax rules for the types the
config uses: bool, int, float, str, ``Any``, ``Literal``, ``X | Y``, ``tuple[X, ...]``,
``dict[str, X]`` and nested sections. Keys are kebab-case aliases (field names are accepted too),
unknown keys are kept as extras, every error is collected with its key path, and instances are
frozen. The methods other modules call keep pydantic's names: ``model_validate``, ``model_copy``,
``model_dump``, ``model_fields``, ``model_extra``.
"""

from __future__ import annotations

import datetime
import math
import re
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import FrozenInstanceError, dataclass
from typing import Any, ClassVar, Literal, TypeVar, dataclass_transform

Loc = tuple[int | str, ...]
F = TypeVar("F", bound=Callable[..., Any])
S = TypeVar("S", bound="Section")

_MISSING: Any = object()
_INVALID: Any = object()


class ValidationError(ValueError):
    """Every problem found in one validation: ``errors()`` gives ``loc`` (key path) and ``msg``."""

    def __init__(self, title: str, errors: list[dict[str, Any]]) -> None:
        self.title, self._errors = title, errors
        lines = [f"{len(errors)} validation error(s) for {title}"]
        lines += [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors]
        super().__init__("\n".join(lines))

    def errors(self) -> list[dict[str, Any]]:
        return list(self._errors)


@dataclass(frozen=True)
class FieldInfo:
    """One field of a section: its key, type, default and numeric bounds."""

    annotation: Any = None
    default: Any = _MISSING
    default_factory: Callable[[], Any] | None = None
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    alias: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING and self.default_factory is None

    def get_default(self) -> Any:
        return self.default_factory() if self.default_factory is not None else self.default


def Field(default: Any = _MISSING, *, default_factory: Callable[[], Any] | None = None,
          ge: float | None = None, gt: float | None = None, le: float | None = None) -> Any:
    """A field's default and bounds, as ``pydantic.Field`` (the subset config.py uses)."""
    return FieldInfo(default=default, default_factory=default_factory, ge=ge, gt=gt, le=le)


@dataclass(frozen=True)
class _Validator:
    fields: tuple[str, ...]
    mode: str
    func: Callable[..., Any]


def field_validator(*fields: str, mode: Literal["before", "after"] = "after") -> Callable[[F], F]:
    """Run a classmethod on a field's input (``before``) or on the validated value (``after``)."""

    def mark(method: F) -> F:
        func = method.__func__ if isinstance(method, classmethod) else method
        return _Validator(fields, mode, func)  # type: ignore[return-value]

    return mark


# ---- validating one value against a type ------------------------------------------------------------

Errors = list[dict[str, Any]]
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
_INT_TEXT = re.compile(r"^([+-]?[0-9]+(?:_[0-9]+)*)(?:\.0+)?$")  # "10.00" is 10, "1." is not


def _fail(errors: Errors, loc: Loc, msg: str) -> Any:
    errors.append({"loc": loc, "msg": msg})
    return _INVALID


def _bool(value: Any, loc: Loc, errors: Errors) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, float) and value in (0.0, 1.0):
        return bool(value)
    if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
        return value.lower() in _TRUE
    whole = isinstance(value, str | int) or (isinstance(value, float) and value.is_integer() and abs(value) < 2**63)
    msg = "unable to interpret input" if whole else ""
    return _fail(errors, loc, "Input should be a valid boolean" + (f", {msg}" if msg else ""))


def _int(value: Any, loc: Loc, errors: Errors) -> Any:
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return _fail(errors, loc, "Input should be a finite number")
        if not value.is_integer():
            return _fail(errors, loc, "Input should be a valid integer, got a number with a fractional part")
        if abs(value) >= 2**63:
            return _fail(errors, loc, "Unable to parse input string as an integer, exceeded maximum size")
        return int(value)
    if isinstance(value, str):
        match = _INT_TEXT.match(value.strip())
        if match:
            return int(match.group(1))
        return _fail(errors, loc, "Input should be a valid integer, unable to parse string as an integer")
    return _fail(errors, loc, "Input should be a valid integer")


def _number_text(text: str) -> float | None:
    if not text.isascii():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _float(value: Any, loc: Loc, errors: Errors) -> Any:
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:
            return _fail(errors, loc, "Input should be a valid number")
    if isinstance(value, str):
        number = _number_text(value.strip())
        if number is not None:
            return number
        return _fail(errors, loc, "Input should be a valid number, unable to parse string as a number")
    return _fail(errors, loc, "Input should be a valid number")


def _str(value: Any, loc: Loc, errors: Errors) -> Any:
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return _fail(errors, loc, "Input should be a valid string, unable to parse raw data as a unicode string")
    return _fail(errors, loc, "Input should be a valid string")


_SCALARS: dict[Any, Callable[[Any, Loc, Errors], Any]] = {bool: _bool, int: _int, float: _float, str: _str}
_STRICT = {bool: (bool,), int: (int,), float: (float,), str: (str,)}


def _literal(options: tuple[Any, ...], value: Any, loc: Loc, errors: Errors) -> Any:
    for option in options:
        if type(value) is type(option) and value == option:
            return option
    shown = [repr(option) for option in options]
    expected = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]
    return _fail(errors, loc, f"Input should be {expected}")


def _tuple(item: Any, value: Any, loc: Loc, errors: Errors) -> Any:
    if not isinstance(value, list | tuple | set | frozenset):
        return _fail(errors, loc, "Input should be a valid tuple")
    before = len(errors)
    items = tuple(validate(item, v, (*loc, i), errors) for i, v in enumerate(value))
    return _INVALID if len(errors) > before else items


def _dict(key: Any, item: Any, value: Any, loc: Loc, errors: Errors) -> Any:
    if not isinstance(value, Mapping):
        return _fail(errors, loc, "Input should be a valid dictionary")
    before = len(errors)
    out = {}
    for k, v in value.items():
        checked = validate(key, k, (*loc, str(k), "[key]"), errors)
        out[checked] = validate(item, v, (*loc, str(k)), errors)
    return _INVALID if len(errors) > before else out


def _union(members: tuple[Any, ...], value: Any, loc: Loc, errors: Errors) -> Any:
    """pydantic's smart mode: an exact type match wins, else the first member that accepts it."""
    for member in members:
        if type(value) in _STRICT.get(member, ()):
            return value
    attempts: Errors = []
    for member in members:
        tried: Errors = []
        result = validate(member, value, (*loc, getattr(member, "__name__", str(member))), tried)
        if result is not _INVALID:
            return result
        attempts += tried
    errors += attempts
    return _INVALID


def validate(annotation: Any, value: Any, loc: Loc, errors: Errors) -> Any:
    """``value`` as ``annotation`` (lax rules), or ``_INVALID`` with the problem added to ``errors``."""
    if annotation is Any:
        return value
    if annotation in _SCALARS:
        return _SCALARS[annotation](value, loc, errors)
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return annotation.validate_value(value, loc, errors)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is Literal:
        return _literal(args, value, loc, errors)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _tuple(args[0], value, loc, errors)
    if origin is dict:
        return _dict(args[0], args[1], value, loc, errors)
    if origin in (types.UnionType, typing.Union):
        return _union(args, value, loc, errors)
    raise TypeError(f"config_model cannot validate {annotation!r}")


def _bounds(info: FieldInfo, value: Any, loc: Loc, errors: Errors) -> Any:
    if info.ge is not None and not value >= info.ge:
        return _fail(errors, loc, f"Input should be greater than or equal to {info.ge}")
    if info.gt is not None and not value > info.gt:
        return _fail(errors, loc, f"Input should be greater than {info.gt}")
    if info.le is not None and not value <= info.le:
        return _fail(errors, loc, f"Input should be less than or equal to {info.le}")
    return value


# ---- dumping --------------------------------------------------------------------------------------


def _json_key(key: Any) -> str:
    """A mapping key as pydantic's JSON mode writes it (YAML allows non-string keys in extras)."""
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, tuple):
        return ",".join(_json_key(k) for k in key)
    return key if isinstance(key, str) else str(key)


def _dump(value: Any, by_alias: bool, json: bool) -> Any:
    if isinstance(value, Section):
        return value.model_dump(by_alias=by_alias, mode="json" if json else "python")
    if isinstance(value, Mapping):
        return {(_json_key(k) if json else k): _dump(v, by_alias, json) for k, v in value.items()}
    if isinstance(value, tuple | list | set | frozenset) and json:
        return [_dump(v, by_alias, json) for v in value]
    if isinstance(value, tuple | list):
        return type(value)(_dump(v, by_alias, json) for v in value)
    if json and isinstance(value, float) and not math.isfinite(value):
        return None
    if json and isinstance(value, datetime.date | datetime.time):
        return value.isoformat().replace("+00:00", "Z")
    if json and isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


# ---- the section base ----------------------------------------------------------------------------


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(Field,))
class Section:
    """Base of the config sections: kebab-case keys, frozen, unknown keys kept as ``model_extra``."""

    model_fields: ClassVar[dict[str, FieldInfo]] = {}
    _validators: ClassVar[tuple[_Validator, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        hints = typing.get_type_hints(cls)
        fields = dict(cls.model_fields)
        validators = list(cls._validators)
        for name, member in list(vars(cls).items()):
            if isinstance(member, _Validator):
                validators.append(member)
                setattr(cls, name, classmethod(member.func))
        for name in cls.__annotations__:
            if typing.get_origin(hints[name]) is ClassVar or name.startswith("_"):
                continue
            declared = vars(cls).get(name, _MISSING)
            info = declared if isinstance(declared, FieldInfo) else FieldInfo(default=declared)
            fields[name] = FieldInfo(hints[name], info.default, info.default_factory, info.ge, info.gt,
                                     info.le, alias=name.replace("_", "-"))
            if declared is not _MISSING:
                delattr(cls, name)
        cls.model_fields, cls._validators = fields, tuple(validators)

    def __init__(self, **data: Any) -> None:
        errors: Errors = []
        self._fill(data, (), errors)
        if errors:
            raise ValidationError(type(self).__name__, errors)

    # ---- validation

    @classmethod
    def model_validate(cls: type[S], data: Any) -> S:
        """A section from a mapping (aliases or field names); ``ValidationError`` lists every problem."""
        errors: Errors = []
        section = cls.validate_value(data, (), errors)
        if errors:
            raise ValidationError(cls.__name__, errors)
        return section

    @classmethod
    def validate_value(cls: type[S], value: Any, loc: Loc, errors: Errors) -> S:
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            return _fail(errors, loc, f"Input should be a valid dictionary or instance of {cls.__name__}")  # type: ignore[no-any-return]
        section = object.__new__(cls)
        before = len(errors)
        section._fill(value, loc, errors)
        return section if len(errors) == before else _INVALID

    def _fill(self, data: Mapping[Any, Any], loc: Loc, errors: Errors) -> None:
        cls = type(self)
        used: set[Any] = set()
        for name, info in cls.model_fields.items():
            key = info.alias if info.alias in data else name if name in data else None
            if key is None:
                if info.required:
                    _fail(errors, (*loc, info.alias), "Field required")
                else:
                    object.__setattr__(self, name, info.get_default())
                continue
            used.add(key)
            value = self._field(name, info, data[key], (*loc, key), errors)
            if value is not _INVALID:
                object.__setattr__(self, name, value)
        extra = {k: v for k, v in data.items() if k not in used}
        for key in extra:
            if not isinstance(key, str):
                _fail(errors, (*loc, str(key)), "Keys should be strings")
        object.__setattr__(self, "_extra", extra)

    def _field(self, name: str, info: FieldInfo, value: Any, loc: Loc, errors: Errors) -> Any:
        cls = type(self)
        mine = [v for v in cls._validators if name in v.fields]
        try:
            for validator in mine:
                if validator.mode == "before":
                    value = validator.func(cls, value)
            value = validate(info.annotation, value, loc, errors)
            if value is _INVALID:
                return value
            value = _bounds(info, value, loc, errors)
            for validator in mine:
                if validator.mode == "after" and value is not _INVALID:
                    value = validator.func(cls, value)
        except ValueError as exc:
            return _fail(errors, loc, f"Value error, {exc}")
        return value

    # ---- the pydantic-named API

    @property
    def model_extra(self) -> dict[Any, Any]:
        extra: dict[Any, Any] = self.__dict__["_extra"]
        return extra

    def model_copy(self: S, *, update: Mapping[str, Any] | None = None) -> S:
        """A copy with ``update`` applied as is (not validated), as ``pydantic.BaseModel.model_copy``."""
        copy = object.__new__(type(self))
        values = dict(self.__dict__)
        values["_extra"] = dict(self.model_extra)
        for key, value in (update or {}).items():
            if key in self.model_fields:
                values[key] = value
            else:
                values["_extra"][key] = value
        copy.__dict__.update(values)
        return copy

    def model_dump(self, *, by_alias: bool = False, mode: Literal["python", "json"] = "python") -> dict[str, Any]:
        """Fields in declaration order, then extras; ``mode="json"`` gives lists and JSON scalars."""
        json = mode == "json"
        out = {(info.alias if by_alias else name): _dump(getattr(self, name), by_alias, json)
               for name, info in self.model_fields.items()}
        out.update({k: _dump(v, by_alias, json) for k, v in self.model_extra.items()})
        return out

    # ---- frozen value semantics

    def __setattr__(self, name: str, value: Any) -> None:
        raise FrozenInstanceError(f"{type(self).__name__} is frozen: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"{type(self).__name__} is frozen: cannot delete {name!r}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        return hash((type(self), *(getattr(self, name) for name in self.model_fields)))

    def __repr__(self) -> str:
        items = [f"{name}={getattr(self, name)!r}" for name in self.model_fields]
        items += [f"{key}={value!r}" for key, value in self.model_extra.items()]
        return f"{type(self).__name__}({', '.join(items)})"


__all__ = ["Field", "FieldInfo", "Section", "ValidationError", "field_validator", "validate"]
