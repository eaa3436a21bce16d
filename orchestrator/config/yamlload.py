"""A SafeLoader for untrusted YAML: bounded size, depth and alias expansion, YAML 1.2 booleans, plain data only."""

from __future__ import annotations

import re
from typing import Any

import yaml

from orchestrator.config.values import shown

MAX_BYTES = 1 << 20
MAX_DEPTH = 32
# Nodes plus characters once aliases are expanded: an alias-free file of MAX_BYTES stays well below it.
MAX_EXPANDED = 2 * MAX_BYTES
STR_TAG = "tag:yaml.org,2002:str"
MERGE_TAG = "tag:yaml.org,2002:merge"
YAML11_BOOLEANS = frozenset(w for word in ("yes", "no", "on", "off") for w in (word, word.title(), word.upper()))
_REFUSED_TAGS = ("binary", "timestamp", "set", "omap", "pairs")
# A "\ud800" escape yields half a UTF-16 pair: no terminal, file or SSH channel can encode it.
_SURROGATE = re.compile("[\ud800-\udfff]")


class RefusedYAML(yaml.MarkedYAMLError):
    """Well-formed YAML that sparkctl will not read (too deep, too big, not plain data)."""


def _refuse(mark: Any, problem: str) -> RefusedYAML:
    return RefusedYAML(problem=problem, problem_mark=mark)


class _Resolver(yaml.resolver.Resolver):
    """YAML 1.2 core booleans (true/false only) and no timestamps: `on`, `no`, `2024-01-01` stay text."""


_Resolver.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if not tag.endswith((":bool", ":timestamp"))]
    for first, resolvers in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}
_Resolver.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                list("tTfF"))


class _Composer(yaml.composer.Composer):
    """Composes nodes while bounding nesting, recursive aliases and the size aliases expand to."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._open_anchors: set[str] = set()
        self._sizes: dict[int, tuple[int, int]] = {}

    def compose_node(self, parent: Any, index: Any) -> Any:
        """One node, refused when it nests too deep, refers to itself or expands too far."""
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            if event.anchor in self._open_anchors:
                raise _refuse(event.start_mark, f"alias *{shown(event.anchor)} refers to itself; "
                                                "recursive YAML aliases are not allowed")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _refuse(event.start_mark, f"nested deeper than {MAX_DEPTH} levels; flatten the structure")
        if event.anchor is not None:
            self._open_anchors.add(event.anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open_anchors.discard(event.anchor)
        self._measure(node)
        return node

    def compose_mapping_node(self, anchor: Any) -> Any:
        """A mapping whose keys are unique text."""
        node = super().compose_mapping_node(anchor)
        seen: set[str] = set()
        for key_node, _value in node.value:
            if key_node.tag == MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != STR_TAG:
                raise _refuse(key_node.start_mark, "a key must be text; quote it, e.g. '1': or 'true':")
            if key_node.value in seen:
                raise _refuse(key_node.start_mark, f"duplicate key '{shown(key_node.value)}'; keep only one")
            seen.add(key_node.value)
        return node

    def _measure(self, node: Any) -> None:
        """Record the expanded size and height of node (children first), refusing a billion laughs."""
        if isinstance(node, yaml.ScalarNode):
            if _SURROGATE.search(node.value):
                raise _refuse(node.start_mark, "contains an unpaired UTF-16 surrogate escape (\\ud800-\\udfff), "
                                               "which is not a character; remove it")
            size, height = 1 + len(node.value), 1
        else:
            children = [self._sizes[id(c)] for c in _children(node)]
            size = 1 + sum(s for s, _ in children)
            height = 1 + max((h for _, h in children), default=0)
        if size > MAX_EXPANDED:
            raise _refuse(node.start_mark, f"expands to more than {MAX_EXPANDED:,} nodes and characters "
                                           "(YAML aliases multiply it); write the values out")
        if height > MAX_DEPTH:
            raise _refuse(node.start_mark, f"aliases nest it deeper than {MAX_DEPTH} levels; write the values out")
        self._sizes[id(node)] = (size, height)


def _children(node: Any) -> list[Any]:
    if isinstance(node, yaml.SequenceNode):
        return node.value
    return [part for pair in node.value for part in pair]


class _Constructor(yaml.constructor.SafeConstructor):
    """Builds plain data only: text, numbers, booleans, null, lists and mappings."""

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """One value; a scalar its tag cannot read (`!!int abc`, a 5,000-digit number) is refused."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, KeyError, TypeError, OverflowError):
            tag = node.tag.rsplit(":", 1)[-1]
            raise _refuse(node.start_mark, f"cannot read '{shown(str(node.value))}' as {tag}; "
                                           "quote it to keep it as text") from None

    def construct_refused(self, node: Any) -> Any:
        """Tags whose values are not plain data."""
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise _refuse(node.start_mark, f"the {tag} tag is not supported; write plain text, numbers, lists or mappings")


for _tag in _REFUSED_TAGS:
    _Constructor.add_constructor(f"tag:yaml.org,2002:{_tag}", _Constructor.construct_refused)


class BoundedLoader(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser, _Composer, _Constructor,
                    _Resolver):
    """SafeLoader with sparkctl's limits."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        _Composer.__init__(self)
        _Constructor.__init__(self)
        _Resolver.__init__(self)


def load(text: str) -> tuple[Any, Any]:
    """(root node, data) of one YAML document; raises yaml.YAMLError, RefusedYAML included."""
    loader = BoundedLoader(text)
    try:
        node = loader.get_single_node()
        return node, (None if node is None else loader.construct_document(node))
    finally:
        loader.dispose()
