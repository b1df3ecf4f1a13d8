"""config_model validates the config as pydantic did, without importing pydantic in the server.

The oracle: a pydantic twin of every section, built from the same declarations (types, defaults,
bounds, validators). Random YAML-like documents must give the same config, or the same errors.
"""

from __future__ import annotations

import subprocess
import sys
import types
import typing
from typing import Any, Literal

import pydantic
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cliproxy.config import TLS, CodexModel, Config, ConfigError, Routing, parse_config
from cliproxy.config_model import Section, ValidationError

_TWINS: dict[type[Section], type[pydantic.BaseModel]] = {}


def _twin_type(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, Section):
        return twin(annotation)
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is None or origin is Literal:
        return annotation
    if origin is tuple:
        return tuple[_twin_type(args[0]), ...]  # type: ignore[misc]
    if origin is dict:
        return dict[_twin_type(args[0]), _twin_type(args[1])]  # type: ignore[misc]
    if origin in (types.UnionType, typing.Union):
        return typing.Union[tuple(_twin_type(a) for a in args)]  # noqa: UP007
    raise TypeError(annotation)


def twin(cls: type[Section]) -> type[pydantic.BaseModel]:
    """The pydantic model config.py declared before config_model existed."""
    if cls not in _TWINS:
        fields: dict[str, Any] = {}
        for name, info in cls.model_fields.items():
            bounds = {k: getattr(info, k) for k in ("ge", "gt", "le") if getattr(info, k) is not None}
            default = info.default
            if isinstance(default, Section):
                default = twin(type(default)).model_validate(default.model_dump())
            if info.default_factory is not None:
                spec = pydantic.Field(default_factory=info.default_factory, **bounds)
            else:
                spec = pydantic.Field(**bounds) if info.required else pydantic.Field(default=default, **bounds)
            fields[name] = (_twin_type(info.annotation), spec)
        validators = {f"check_{i}": pydantic.field_validator(*v.fields, mode=v.mode)(classmethod(v.func))  # type: ignore[call-overload]
                      for i, v in enumerate(cls._validators)}
        config = pydantic.ConfigDict(alias_generator=lambda n: n.replace("_", "-"), populate_by_name=True,
                                     frozen=True, extra="allow")
        _TWINS[cls] = pydantic.create_model(cls.__name__, __config__=config, __validators__=validators, **fields)
    return _TWINS[cls]


def outcome(model: Any, data: dict[Any, Any]) -> tuple[str, Any]:
    try:
        return "ok", model.model_validate(data).model_dump(by_alias=True, mode="json")
    except (ValidationError, pydantic.ValidationError) as exc:
        return "error", sorted((tuple(map(str, e["loc"])), e["msg"]) for e in exc.errors())


_WORDS = ["yes", "No", "on", "OFF", "t", "1", "0", " 1", "1.0", "1.5", "1e3", "inf", "nan", "1_000", " 8080 ",
          "", "off", "short", "long", "pool", "routed", "true", "TRUE", "+3", "0x10", "٣", "1.", "10.00"]
_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.integers(), st.floats(),
                    st.sampled_from(_WORDS), st.text(max_size=4))
_NESTED_KEYS = st.sampled_from(["name", "alias", "api-key", "base-url", "enable", "strategy", "client-view",
                                "poll-interval", "models", "fork", "prefix"])
_VALUE = st.recursive(_SCALAR, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.one_of(st.text(max_size=3), _NESTED_KEYS, st.integers(0, 2)), inner,
                                        max_size=3), max_leaves=6)
_KEYS = st.sampled_from([*(f.alias for f in Config.model_fields.values()), *Config.model_fields, "unknown-key"])


@settings(max_examples=400, suppress_health_check=list(HealthCheck), deadline=None)
@given(st.dictionaries(_KEYS, _VALUE, max_size=4))
def test_any_document_validates_as_with_pydantic(data: dict[str, Any]) -> None:
    assert outcome(Config, data) == outcome(twin(Config), data)


@pytest.mark.parametrize("data", [
    {"port": "8080", "tls": {"enable": "yes"}, "api-keys": ["a", " a ", "b", None]},
    {"routing": {"prefer-earlier-reset": False, "custom": 1}, "codex_base_url": "http://x/y//"},
    {"codex-api-key": [{"api-key": "k", "base-url": "u", "models": [{"name": "m"}], "headers": {"a": "b"}}]},
    {"oauth-model-alias": {"codex": [{"name": "a", "alias": "b", "fork": "true"}]}, "disable-image-generation": 1},
    {"codex-api-key": [{"base-url": "x"}], "port": 70000, "quota": {"client-view": "x"}, "tls": None},
    {"upstream": {"connect-timeout-seconds": 0}, "streaming": {"keepalive-seconds": "-1"}, 3: "x"},
])
def test_documents_of_every_shape_validate_as_with_pydantic(data: dict[Any, Any]) -> None:
    assert outcome(Config, data) == outcome(twin(Config), data)


def test_an_error_names_each_bad_key_by_the_spelling_used() -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"codex-api-key": [{"base-url": "x"}], "request_retry": "many"})
    assert "codex-api-key[0].api-key: Field required" in str(err.value)
    assert "request_retry: Input should be a valid integer" in str(err.value)


def test_sections_are_frozen_values() -> None:
    config = parse_config({"routing": {"strategy": "fill-first"}})
    with pytest.raises(AttributeError):
        config.port = 1  # type: ignore[misc]
    assert config == parse_config({"routing": {"strategy": "fill-first"}})
    assert config != parse_config({})
    assert hash(TLS(enable=True)) == hash(TLS(enable=True))
    assert CodexModel(name="m", alias="a") == CodexModel.model_validate({"name": "m", "alias": "a"})


def test_a_copy_takes_updates_as_given_and_leaves_the_original() -> None:
    config = parse_config({"custom": 1})
    copy = config.model_copy(update={"port": 9, "routing": Routing(strategy="x"), "other": 2})
    assert (copy.port, copy.routing.strategy, copy.model_extra) == (9, "x", {"custom": 1, "other": 2})
    assert (config.port, config.model_extra) == (8317, {"custom": 1})


def test_unknown_keys_are_kept_and_dumped_after_the_fields() -> None:
    dumped = parse_config({"zz": [1], "tls": {"enable": True, "extra": "x"}}).model_dump(by_alias=True)
    assert list(dumped)[-1] == "zz" and dumped["tls"] == {"enable": True, "cert": "", "key": "", "extra": "x"}
    assert parse_config({}).model_dump()["auth_dir"] == "~/.cli-proxy-api"  # names unless by_alias


def test_loading_the_config_does_not_import_pydantic() -> None:
    code = ("import sys; from cliproxy.config import parse_config; parse_config({'port': '1'}); "
            "print('pydantic' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
