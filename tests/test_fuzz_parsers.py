"""Fuzzing the parsers: whatever text a user gives, only InputError escapes.

Generated TOML documents (built from the schema's own keys, misspelt keys and values of
every TOML type), arbitrary text, and arbitrary ``--set`` strings go into the scenario
loader and the sweep spec loader. Each either loads or raises :class:`InputError` with a
one-line message; any other exception is a bug.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from agentmarket.errors import InputError
from agentmarket.params import Params
from agentmarket.scenarios import apply_overrides, load_raw, load_scenario, parse_override, validate


def schema_keys(model: type[BaseModel] = Params, prefix: str = "") -> list[str]:
    keys = []
    for name, field in model.model_fields.items():
        keys.append(prefix + name)
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            keys += schema_keys(ann, f"{prefix}{name}.")
    return keys


KEYS = [*schema_keys(), "labs.lab_a.pricing_policy", "labs.lab_a.plans.max.price_usd_per_month", "clouds.cloud.owner"]
NAMES = sorted({part for key in KEYS for part in key.split(".")} | {"extends", "lab_a", "lab_b", "cloud"})

scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["2025-12", "", "baseline", "hold", "memory", "small_world", "1e400", "nan"]),
    st.dates(min_value=dt.date(1, 1, 1)),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(NAMES), inner, max_size=3),
    max_leaves=8,
)
keys = st.one_of(st.sampled_from(NAMES), st.text(min_size=1, max_size=8))
documents = st.recursive(
    st.dictionaries(keys, values, max_size=4),
    lambda inner: st.dictionaries(keys, inner | values, max_size=4),
    max_leaves=12,
)


def toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return "nan" if v != v else ("inf" if v == float("inf") else "-inf" if v == float("-inf") else repr(v))
    if isinstance(v, int | dt.date):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + "}"


def to_toml(doc: dict[str, Any]) -> str:
    """A TOML document: top-level tables as [headers], everything else inline."""
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    for k, v in doc.items():
        if isinstance(v, dict):
            lines.append(f"[{json.dumps(k)}]")
            lines += [f"{json.dumps(kk)} = {toml_value(vv)}" for kk, vv in v.items()]
    return "\n".join(lines) + "\n"


def only_input_error(call, *args) -> Any:
    """Call; an InputError is fine (one line), anything else propagates and fails the test."""
    try:
        return call(*args)
    except InputError as exc:
        assert "\n" not in str(exc) and str(exc).strip()
        return None


def in_temp_file(text: str | bytes, call) -> Any:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.toml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")
        return only_input_error(call, path)


@given(documents)
def test_generated_toml_scenarios(doc):
    in_temp_file(to_toml(doc), load_scenario)


@given(documents)
def test_generated_toml_laid_over_the_baseline(doc):
    in_temp_file('extends = "baseline"\n' + to_toml(doc), load_scenario)


@given(st.text(max_size=200))
def test_arbitrary_text_as_a_scenario(text):
    in_temp_file(text, load_scenario)


@given(st.binary(max_size=100))
def test_arbitrary_bytes_as_a_scenario(data):
    in_temp_file(data, load_scenario)


set_strings = st.one_of(
    st.text(max_size=40),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from(KEYS), st.text(max_size=20)),
    st.builds(lambda k, v: f"{k}={toml_value(v)}", st.sampled_from(KEYS), values),
    st.builds(lambda k, extra, v: f"{k}.{extra}={v}", st.sampled_from(KEYS), keys, st.text(max_size=8)),
)


@given(set_strings)
def test_set_strings(text):
    raw = load_raw("baseline")
    parsed = only_input_error(parse_override, text)
    if parsed is not None:
        path, _value = parsed
        assert path and all(path)
    overridden = only_input_error(apply_overrides, raw, [text])
    if overridden is not None:
        only_input_error(validate, overridden)
    only_input_error(load_scenario, "baseline", [text])


@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=3))
def test_override_mappings(overrides):
    only_input_error(load_scenario, "baseline", overrides)


try:
    from agentmarket.experiments import load_spec
except ImportError:  # the sweep spec loader is not in this build
    load_spec = None

needs_spec = pytest.mark.skipif(load_spec is None, reason="the sweep spec loader is not in this build yet")
SPEC_NAMES = ["scenario", "seed", "replicates", "months", "set", "design", "kind", "samples", "parameters"]
SPEC_NAMES += ["min", "max", "values", "levels", "scale", "outputs", "metrics", "keep", "adoption.imitation"]
spec_values = st.recursive(
    scalars | st.sampled_from(["grid", "lhs", "sobol", "morris", "series", "summary", "log", "market.*"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(SPEC_NAMES), inner, max_size=3),
    max_leaves=10,
)
spec_documents = st.dictionaries(st.sampled_from(SPEC_NAMES) | st.text(min_size=1, max_size=6), spec_values, max_size=6)


@needs_spec
@given(spec_documents)
def test_generated_sweep_specs(doc):
    in_temp_file(to_toml(doc), load_spec)


@needs_spec
@given(st.text(max_size=200))
def test_arbitrary_text_as_a_sweep_spec(text):
    in_temp_file(text, load_spec)


# ----- valid input still loads ------------------------------------------------------------------
def toml_text(value: str) -> str:
    """A TOML basic string (JSON escapes, plus DEL, which TOML asks to escape and JSON does not)."""
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def nested_toml(doc: dict[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    """A TOML document with one [table] header per nested table, at any depth."""
    head = [f"{json.dumps(k)} = {valid_value(v)}" for k, v in doc.items() if not isinstance(v, dict)]
    lines = ([f"[{'.'.join(json.dumps(p) for p in path)}]"] if path and head else []) + head
    for k, v in doc.items():
        if isinstance(v, dict):
            lines += nested_toml(v, (*path, k))
    return lines


def valid_value(v: Any) -> str:
    if isinstance(v, str):
        return toml_text(v)
    if isinstance(v, list):
        return "[" + ", ".join(valid_value(x) for x in v) + "]"
    return toml_value(v)


def valid_scenarios() -> st.SearchStrategy:
    from test_properties import valid_params

    return valid_params()


@given(valid_scenarios())
def test_a_valid_scenario_written_as_toml_loads_as_itself(params: Params):
    text = "\n".join(nested_toml(params.model_dump(mode="json"))) + "\n"
    loaded = in_temp_file(text, load_scenario)
    assert loaded == params, "a valid scenario file was refused or changed on loading"


SWEEP_SECTIONS = ("adoption", "developers", "market", "hardware", "churn")
"""Sections whose numeric fields a generated sweep varies, each over its schema's declared range."""


def sweepable_fields() -> list[tuple[str, float, float]]:
    out = []
    for section in SWEEP_SECTIONS:
        for name, field in Params.model_fields[section].annotation.model_fields.items():
            if field.annotation is float:
                b = {k: getattr(m, k) for m in field.metadata for k in ("ge", "gt", "le", "lt") if hasattr(m, k)}
                lo = b.get("ge", b.get("gt"))
                hi = b.get("le", b.get("lt"))
                if lo is not None and hi is not None:
                    out.append((f"{section}.{name}", float(lo), float(hi)))
    return out


SWEEPABLE = sweepable_fields()


@st.composite
def parameter_ranges(draw, kind: str) -> dict[str, Any]:
    chosen = draw(
        st.lists(
            st.sampled_from(SWEEPABLE),
            min_size=2 if kind in ("sobol", "morris") else 1,
            max_size=3,
            unique_by=lambda f: f[0],
        )
    )
    out = {}
    for key, lo, hi in chosen:
        ends = draw(
            st.lists(st.floats(lo, hi, exclude_min=True, exclude_max=True), min_size=2, max_size=2, unique=True)
        )
        a, b = sorted(ends)
        if kind == "grid" and draw(st.booleans()):
            out[key] = {"values": draw(st.lists(st.floats(a, b), min_size=2, max_size=3, unique=True))}
        else:
            out[key] = {"min": a, "max": b} | ({"levels": draw(st.integers(2, 4))} if kind == "grid" else {})
            if a > 0 and draw(st.booleans()):
                out[key]["scale"] = "log"
    return out


@st.composite
def valid_sweep_specs(draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(["grid", "lhs", "sobol", "morris"]))
    doc: dict[str, Any] = {
        "description": draw(st.text(max_size=20)),
        "scenario": "baseline",
        "seed": draw(st.integers(0, 2**63 - 1)),
        "replicates": draw(st.integers(1, 5)),
        "common_random_numbers": draw(st.booleans()),
        "parameters": draw(parameter_ranges(kind)),
        "design": {"kind": kind, "samples": draw(st.integers(1, 64))},
        "outputs": {
            "metrics": draw(
                st.lists(
                    st.sampled_from(["market.*", "market.adoption_share", "lab_a.revenue", "*.capacity"]),
                    min_size=1,
                    max_size=3,
                    unique=True,
                )
            ),
            "keep": draw(st.sampled_from(["series", "summary"])),
        },
    }
    if draw(st.booleans()):
        doc["months"] = draw(st.integers(1, 1200))
    return doc


@needs_spec
@given(valid_sweep_specs())
def test_a_valid_sweep_spec_loads(doc):
    spec = in_temp_file("\n".join(nested_toml(doc)) + "\n", load_spec)
    assert spec is not None, "a valid sweep spec was refused"
    assert spec.parameters.keys() == doc["parameters"].keys()
    assert spec.design.kind.value == doc["design"]["kind"] and spec.seed == doc["seed"]
