"""Task forms: JSON Schemas from `workflows/forms/`, validated on the server.

Schemas may carry product keywords that plain JSON Schema ignores:
`x-options: "departments"` (the court's departments become the field's enum, or its
items' enum for an array) and `x-widget` / `x-labels` / `x-hint` (rendering hints only).
A property's `default` is filled in before validation when the field is absent, so a
client that sends only the contract's fields gets the form's documented defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from engine.errors import InvalidData

OPTION_SOURCES = ("departments",)


def resolve_schema(schema: dict[str, Any], options: Mapping[str, list[str]]) -> dict[str, Any]:
    """Copy of `schema` with every `x-options` source turned into an `enum`."""
    resolved = copy.deepcopy(schema)
    for field in resolved.get("properties", {}).values():
        source = field.get("x-options")
        if source in options:
            target = field.setdefault("items", {}) if field.get("type") == "array" else field
            target["enum"] = list(options[source])
    return resolved


def with_defaults(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """`data` plus the `default` of every absent property (copied, never shared)."""
    filled = dict(data)
    for name, field in schema.get("properties", {}).items():
        if name not in filled and "default" in field:
            filled[name] = copy.deepcopy(field["default"])
    return filled


def validate(schema: dict[str, Any], data: Any) -> dict[str, Any]:
    """Return `data` if it satisfies `schema`, else raise InvalidData with one message per field."""
    if not isinstance(data, dict):
        raise InvalidData("form data must be a JSON object", {"data": "must be an object"})
    data = with_defaults(schema, data)
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    fields: dict[str, str] = {}
    for error in sorted(validator.iter_errors(data), key=lambda e: list(e.path)):
        name = _field_name(error)
        fields.setdefault(name, _message(error, schema))
    if fields:
        names = ", ".join(sorted(fields))
        raise InvalidData(f"form data is invalid: {names}", fields)
    return data


def _field_name(error) -> str:
    if error.path:
        return str(error.path[0])
    if error.validator == "required":
        missing = best_match([error]).message.split("'")
        return missing[1] if len(missing) > 1 else "data"
    if error.validator == "additionalProperties":
        extra = error.message.split("'")
        return extra[1] if len(extra) > 1 else "data"
    return "data"


def _message(error, schema: dict[str, Any]) -> str:
    """A short bilingual sentence a clerk understands, for the common keywords."""
    kind = error.validator
    if kind == "required":
        return "必填 / This field is required"
    if kind == "minLength":
        return f"至少 {error.validator_value} 个字 / At least {error.validator_value} characters"
    if kind == "maxLength":
        return f"最多 {error.validator_value} 个字 / At most {error.validator_value} characters"
    if kind == "enum":
        return "请从列表中选择 / Choose one of the listed values"
    if kind == "pattern":
        hint = schema.get("properties", {}).get(error.path[0] if error.path else "", {})
        example = hint.get("x-hint") if isinstance(hint, dict) else None
        return f"格式不对{('，' + example) if example else ''} / Not in the expected format"
    if kind == "format":
        return f"格式应为 {error.validator_value} / Must be a valid {error.validator_value}"
    if kind == "type":
        return f"类型应为 {error.validator_value} / Must be of type {error.validator_value}"
    if kind == "additionalProperties":
        return "表单中没有此字段 / This field is not part of the form"
    return error.message


def coerce_form_input(schema: dict[str, Any], form: Mapping[str, str]) -> dict[str, Any]:
    """Turn HTML form strings into the JSON types the schema declares.

    Empty optional fields are dropped so `required` reports them, and values that do
    not convert are kept as strings so the validator names the field.
    """
    data: dict[str, Any] = {}
    for name, field in schema.get("properties", {}).items():
        kind = field.get("type")
        if kind == "array":  # a multi-select or checkboxes: every chosen value
            chosen = form.getlist(name) if hasattr(form, "getlist") else form.get(name)
            values = [v.strip() for v in chosen or [] if isinstance(v, str) and v.strip()]
            if values:
                data[name] = values
            continue
        raw = form.get(name)
        if raw is None or raw == "":
            continue
        if kind == "boolean":
            data[name] = {"true": True, "false": False}.get(raw, raw)
        elif kind in ("integer", "number"):
            try:
                data[name] = int(raw) if kind == "integer" else float(raw)
            except ValueError:
                data[name] = raw
        else:
            data[name] = raw.strip()
    return data
