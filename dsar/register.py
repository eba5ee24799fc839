"""The controller's register of processing activities (Art. 30 GDPR), read from a data file.

The register is the customer's data: a YAML file (``register/otrs.yaml`` for the first
customer), described in ``docs/register.md`` and ``register/schema.json``. ``read_register``
parses it, keeping the line of every value, checks it against the schema and checks what the
schema cannot (keys used twice, references to recipients and retention rules that do not exist,
"not stated" where a person must be told something); each problem names its line and field.
Only a file without problems reaches ``load_register``, which writes it in one transaction, so
a malformed file changes nothing. Staff edit the loaded register in the admin afterwards.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.db import transaction
from jsonschema import Draft202012Validator, ValidationError

from .models import (
    Controller,
    DataSystem,
    ProcessingActivity,
    Recipient,
    RetentionRule,
)

DEFAULT_PATH = Path(settings.BASE_DIR) / "register" / "otrs.yaml"
SCHEMA_PATH = Path(settings.BASE_DIR) / "register" / "schema.json"

# The register entry the privacy notice of DSAR Desk itself is drawn from (Art. 13).
REQUEST_HANDLING = "handling-data-subject-requests"

# Words that tell a person nothing; Art. 15 asks for the period or the criteria.
_EMPTY_ANSWERS = re.compile(r"not stated|nicht angegeben|keine angabe", re.IGNORECASE)

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file, where it is."""

    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "the file"
        return (
            f"{where}, {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class RegisterError(Exception):
    """The register file cannot be loaded; nothing was written."""

    def __init__(self, path: Path, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        listed = "\n".join(f"  {path.name}, {problem}" for problem in problems)
        super().__init__(f"{path} has {len(problems)} problem(s):\n{listed}")


@dataclass(frozen=True)
class LoadResult:
    created: int
    updated: int
    recipients: int
    retention_rules: int
    # Systems the file names that do not exist (yet): their links are made on a later load.
    unknown_systems: tuple[str, ...]


# --- Reading, with the line of every value ---------------------------------------------------


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise _Stop(Problem(line, _render(path), f"the field name {key!r} is not text"))
            if key in result:
                raise _Stop(Problem(line, _render((*path, key)), "is given twice"))
            lines[(*path, key)] = line
            result[key] = _convert(loader, value_node, (*path, key), lines)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(loader, item, (*path, index), lines) for index, item in enumerate(node.value)
        ]
    value = loader.construct_object(node)
    # JSON Schema knows no dates: YAML's 2025-01-01 is checked as the text it was written as.
    return value.isoformat() if isinstance(value, dt.date) else value


class _Stop(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _parse(path: Path) -> tuple[Any, dict[Path_, int]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise RegisterError(path, [Problem(None, "", f"cannot be read ({error})")]) from error
    loader = yaml.SafeLoader(text)
    lines: dict[Path_, int] = {}
    try:
        node = loader.get_single_node()
        if node is None:
            raise RegisterError(path, [Problem(None, "", "is empty")])
        return _convert(loader, node, (), lines), lines
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else None
        message = f"is not valid YAML: {error.problem or error.context}"
        raise RegisterError(path, [Problem(line, "", message)]) from error
    except _Stop as stop:
        raise RegisterError(path, [stop.problem]) from None
    finally:
        loader.dispose()


# --- Naming a place in the file ---------------------------------------------------------------


def _render(path: Path_, data: Any = None) -> str:
    """``activities > newsletter > retention > de``: list items by their key where they have one."""
    parts: list[str] = []
    node = data
    for step in path:
        child = None
        if node is not None:
            try:
                child = node[step]
            except (KeyError, IndexError, TypeError):
                child = None
        if isinstance(step, int):
            key = child.get("key") if isinstance(child, dict) else None
            parts.append(str(key) if isinstance(key, str) else f"item {step + 1}")
        else:
            parts.append(step)
        node = child
    return " > ".join(parts)


def _line(lines: dict[Path_, int], path: Path_) -> int | None:
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


# --- The schema -------------------------------------------------------------------------------


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


_TYPES = {
    "string": "text",
    "object": "a set of fields",
    "array": "a list",
    "integer": "a whole number",
    "boolean": "true or false",
}


def _schema_problems(data: Any, lines: dict[Path_, int]) -> Iterator[Problem]:
    schema = _schema()
    patterns = {
        schema["$defs"]["key"]["pattern"]: "must be lower-case letters, digits and hyphens "
        "(e.g. archived-emails)",
        schema["$defs"]["email"]["pattern"]: "must be an email address",
    }
    validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
    for error in validator.iter_errors(data):
        yield from _describe(error, data, lines, patterns)


def _describe(
    error: ValidationError, data: Any, lines: dict[Path_, int], patterns: dict[str, str]
) -> Iterator[Problem]:
    path: Path_ = tuple(error.absolute_path)
    kind, value = error.validator, error.validator_value
    if kind == "required":
        missing = re.search(r"'(.+?)' is a required property", error.message)
        name = missing.group(1) if missing else "?"
        yield Problem(_line(lines, path), _render((*path, name), data), "is missing")
        return
    if kind == "additionalProperties":
        instance = error.instance if isinstance(error.instance, dict) else {}
        allowed = set(
            (error.schema.get("properties") or {}) if isinstance(error.schema, dict) else ()
        )
        for name in sorted(set(instance) - allowed):
            yield Problem(
                _line(lines, (*path, name)),
                _render((*path, name), data),
                "is not a field here (a typo?); see docs/register.md",
            )
        return
    messages: dict[str, str] = {
        "type": f"should be {_TYPES.get(str(value), str(value))}",
        "enum": "must be one of: " + ", ".join(str(item) for item in value)
        if isinstance(value, list)
        else "",
        "const": f"must be {value!r}",
        "minLength": "must not be empty",
        "minItems": "must list at least one entry",
        "minimum": f"must be at least {value}",
        "maximum": f"must be at most {value}",
        "uniqueItems": "lists the same key twice",
        "format": "must be a date written as YYYY-MM-DD",
        "pattern": patterns.get(str(value), f"{error.instance!r} is not in the expected form"),
    }
    yield Problem(_line(lines, path), _render(path, data), messages.get(str(kind), error.message))


# --- What the schema cannot check -----------------------------------------------------------


def _texts(item: dict[str, Any], path: Path_) -> Iterator[tuple[Path_, str]]:
    for name, value in item.items():
        if isinstance(value, dict) and set(value) == {"en", "de"}:
            for language in ("en", "de"):
                yield (*path, name, language), str(value[language])


def _reference_problems(data: dict[str, Any], lines: dict[Path_, int]) -> Iterator[Problem]:
    def problem(where: Path_, message: str) -> Problem:
        return Problem(_line(lines, where), _render(where, data), message)

    known: dict[str, set[str]] = {}
    for section in ("retention_rules", "recipients", "activities"):
        seen: set[str] = set()
        for index, item in enumerate(data[section]):
            if item["key"] in seen:
                yield problem((section, index, "key"), "this key is used twice")
            seen.add(item["key"])
        known[section] = seen
    for index, recipient in enumerate(data["recipients"]):
        mechanism: Path_ = ("recipients", index, "transfer_mechanism")
        if recipient["third_country"] and recipient["transfer_mechanism"] == "none":
            yield problem(
                mechanism, "a recipient in a third country needs its mechanism (Art. 44-49)"
            )
        if not recipient["third_country"] and recipient["transfer_mechanism"] != "none":
            yield problem(mechanism, "must be none for a recipient inside the EU/EEA")
        if recipient["third_country"] and "safeguard" not in recipient:
            yield Problem(
                _line(lines, ("recipients", index)),
                _render(("recipients", index, "safeguard"), data),
                "is missing: a person must learn the safeguard of a transfer (Art. 15(2))",
            )
    for index, activity in enumerate(data["activities"]):
        for field in ("recipients", "retention_rules"):
            for position, key in enumerate(activity.get(field, [])):
                if key not in known[field]:
                    yield problem(
                        ("activities", index, field, position),
                        f"names {key!r}, which the file's {field} do not define",
                    )
    for section in ("retention_rules", "recipients", "activities"):
        for index, item in enumerate(data[section]):
            for where, text in _texts(item, (section, index)):
                if _EMPTY_ANSWERS.search(text):
                    yield problem(
                        where,
                        "says 'not stated': give the period, the criteria or what the "
                        "controller does; a person must be told (Art. 13-15)",
                    )


def read_register(path: Path = DEFAULT_PATH) -> dict[str, Any]:
    """The register file's content, checked; or RegisterError naming every problem's line."""
    data, lines = _parse(path)
    problems = list(_schema_problems(data, lines))
    if not problems:
        problems = list(_reference_problems(data, lines))
    if problems:
        problems.sort(key=lambda problem: (problem.line or 0, problem.field))
        raise RegisterError(path, problems)
    assert isinstance(data, dict)  # nosec B101  # narrows the type: checked above
    return data


# --- Writing ----------------------------------------------------------------------------------


def _bilingual(spec: dict[str, Any], *fields: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for field in fields:
        text = spec.get(field) or {"en": "", "de": ""}
        values[field], values[f"{field}_de"] = text["en"].strip(), text["de"].strip()
    return values


def _rule_fields(spec: dict[str, Any]) -> dict[str, Any]:
    former = spec.get("former") or {}
    return {
        **_bilingual(spec, "name", "citation", "note"),
        "years": spec["years"],
        "from_end_of_year": spec.get("counts_from", "end_of_year") == "end_of_year",
        "former_years": former.get("years"),
        "changed_on": dt.date.fromisoformat(former["changed_on"]) if former else None,
        "open_assessment_extends": spec.get("open_assessment_extends", False),
    }


VENDOR_TEXT = ("country_code", "country", "country_de", "third_country", "transfer_mechanism")


def _recipient_fields(spec: dict[str, Any], existing: Recipient | None) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": spec["name"],
        "role": spec["role"],
        "country_code": spec["country"]["code"],
        "country": spec["country"]["en"],
        "country_de": spec["country"]["de"],
        "third_country": spec["third_country"],
        "transfer_mechanism": spec["transfer_mechanism"],
        **_bilingual(spec, "safeguard"),
        "notice_email": spec.get("notice_email", ""),
        "basis_of_text": spec.get("basis_of_text", ""),
    }
    # A confirmation given in the admin stands as long as what was confirmed is unchanged.
    unchanged = existing is not None and all(
        getattr(existing, name) == fields[name]
        for name in (*VENDOR_TEXT, "safeguard", "safeguard_de")
    )
    fields["confirmed_by_controller"] = bool(spec.get("confirmed_by_controller")) or bool(
        unchanged and existing is not None and existing.confirmed_by_controller
    )
    return fields


def _activity_fields(spec: dict[str, Any]) -> dict[str, Any]:
    return {
        **_bilingual(
            spec,
            "name",
            "purposes",
            "legal_basis_detail",
            "data_categories",
            "recipient_categories",
            "third_country_transfers",
            "transfer_safeguards",
            "retention",
            "source",
            "automated_decision_making",
            "provision_requirement",
        ),
        "legal_basis": spec["legal_basis"],
        "policy_retention_years": spec.get("policy_retention_years"),
        "internal_note": spec.get("internal_note", ""),
    }


def load_register(path: Path = DEFAULT_PATH) -> LoadResult:
    """Check the file, then write its controller, retention rules, recipients and activities in
    one transaction, each matched by its key. Systems are linked where they exist, so the
    register can be loaded before the systems are set up and again after."""
    data = read_register(path)
    created = updated = 0
    with transaction.atomic():
        systems = {system.key: system for system in DataSystem.objects.all()}
        named = {
            key
            for item in data["activities"] + data["recipients"]
            for key in item.get("systems", [])
        }
        rules = {}
        for spec in data["retention_rules"]:
            rules[spec["key"]], _created = RetentionRule.objects.update_or_create(
                key=spec["key"], defaults=_rule_fields(spec)
            )
        recipients = {}
        for spec in data["recipients"]:
            existing = Recipient.objects.filter(key=spec["key"]).first()
            recipient, _created = Recipient.objects.update_or_create(
                key=spec["key"], defaults=_recipient_fields(spec, existing)
            )
            recipient.systems.set(
                [systems[key] for key in spec.get("systems", []) if key in systems]
            )
            recipients[spec["key"]] = recipient
        for spec in data["activities"]:
            activity, was_created = ProcessingActivity.objects.update_or_create(
                key=spec["key"], defaults=_activity_fields(spec)
            )
            activity.systems.set(
                [systems[key] for key in spec.get("systems", []) if key in systems]
            )
            activity.recipients.set([recipients[key] for key in spec.get("recipients", [])])
            activity.retention_rules.set([rules[key] for key in spec.get("retention_rules", [])])
            created, updated = (created + 1, updated) if was_created else (created, updated + 1)
        controller = Controller.current() or Controller()
        for field, value in data["controller"].items():
            setattr(controller, field, value.strip() if isinstance(value, str) else value)
        controller.save()
    return LoadResult(
        created=created,
        updated=updated,
        recipients=len(recipients),
        retention_rules=len(rules),
        unknown_systems=tuple(sorted(named - set(systems))),
    )
