"""Element and attribute names per complex type, read from Intuit's XSD (fixtures/*.xsd).

JSON mapping rules (Intuit's): XSD attributes become ordinary keys; a type with simple
content (ReferenceType) carries its text as `value`; inherited elements count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

XS = "{http://www.w3.org/2001/XMLSchema}"
FIXTURES = Path(__file__).resolve().parents[1] / "emulator" / "fixtures"


@dataclass
class TypeInfo:
    """Names a complex type allows, with the declared type of each child element."""

    base: str | None = None
    children: dict[str, str | None] = field(default_factory=dict)
    attributes: set[str] = field(default_factory=set)
    simple_content: bool = False


def _local(qname: str | None) -> str | None:
    return qname.split(":")[-1] if qname else None


class Schema:
    """The complex types of Finance.xsd and the files it includes."""

    def __init__(self, root_file: Path) -> None:
        self.types: dict[str, TypeInfo] = {}
        self.groups: dict[str, Any] = {}
        # simpleType enumerations: name -> the values it allows.
        self.enums: dict[str, frozenset[str]] = {}
        self._load(root_file, set())

    def _load(self, path: Path, seen: set[Path]) -> None:
        if path in seen:
            return
        seen.add(path)
        tree = etree.parse(str(path))
        root = tree.getroot()
        for include in root.findall(f"{XS}include"):
            self._load(path.parent / include.get("schemaLocation"), seen)
        for group in root.findall(f"{XS}group"):
            self.groups[group.get("name")] = group
        for simple in root.findall(f"{XS}simpleType"):
            values = frozenset(str(e.get("value")) for e in simple.iter(f"{XS}enumeration"))
            if values:
                self.enums[str(simple.get("name"))] = values
        for ctype in root.findall(f"{XS}complexType"):
            self.types[ctype.get("name")] = self._read_type(ctype)
        for element in root.findall(f"{XS}element"):
            inline = element.find(f"{XS}complexType")
            if inline is not None:
                self.types[f"element:{element.get('name')}"] = self._read_type(inline)

    def _read_type(self, node: Any) -> TypeInfo:
        info = TypeInfo()
        self._collect(node, info)
        return info

    def _collect(self, node: Any, info: TypeInfo) -> None:
        for child in node:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            if tag in (f"{XS}sequence", f"{XS}choice", f"{XS}all"):
                self._collect(child, info)
            elif tag in (f"{XS}complexContent", f"{XS}simpleContent"):
                if tag == f"{XS}simpleContent":
                    info.simple_content = True
                self._collect(child, info)
            elif tag in (f"{XS}extension", f"{XS}restriction"):
                info.base = _local(child.get("base"))
                self._collect(child, info)
            elif tag == f"{XS}element":
                name = str(child.get("name") or _local(child.get("ref")))
                inline = child.find(f"{XS}complexType")
                if inline is not None:
                    key = f"inline:{id(child)}"
                    self.types[key] = self._read_type(inline)
                    info.children[name] = key
                else:
                    info.children[name] = _local(child.get("type") or child.get("ref"))
            elif tag == f"{XS}attribute":
                info.attributes.add(str(child.get("name") or _local(child.get("ref"))))
            elif tag == f"{XS}group":
                group = self.groups.get(str(_local(child.get("ref"))))
                if group is not None:
                    self._collect(group, info)

    def names(self, type_name: str) -> tuple[dict[str, str | None], set[str], bool]:
        """All child elements (name -> type), attributes and simple-content flag, inherited."""
        children: dict[str, str | None] = {}
        attributes: set[str] = set()
        simple = False
        current: str | None = type_name
        while current and current in self.types:
            info = self.types[current]
            for name, child_type in info.children.items():
                children.setdefault(name, child_type)
            attributes |= info.attributes
            simple = simple or info.simple_content
            current = info.base
        return children, attributes, simple


@cache
def schema() -> Schema:
    """The parsed Finance schema (cached; parsing takes about a second)."""
    return Schema(FIXTURES / "Finance.xsd")


def unknown_names(value: Any, type_name: str, path: str = "") -> list[str]:
    """Paths of JSON keys in `value` that the XSD type `type_name` does not define, and of
    values outside the enumeration their element's type is, nested types included."""
    problems: list[str] = []
    sch = schema()
    if type_name in sch.enums:
        if isinstance(value, str) and value not in sch.enums[type_name]:
            problems.append(f"{path} = {value!r} (not a {type_name} value)")
        return problems
    if isinstance(value, list):
        for index, item in enumerate(value):
            problems += unknown_names(item, type_name, f"{path}[{index}]")
        return problems
    if not isinstance(value, dict):
        return problems
    if type_name not in sch.types:
        return problems  # a simple type: nothing to check below
    children, attributes, simple = sch.names(type_name)
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if key in children:
            child_type = children[key]
            if child_type is not None:
                problems += unknown_names(item, child_type, where)
        elif key in attributes or (simple and key == "value"):
            continue
        else:
            problems.append(f"{where} (type {type_name})")
    return problems
