"""Read a scenario file: YAML → :class:`ScenarioFile`, errors pointing at the file's lines."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from envgrid_sim.scenariofile.model import ScenarioFile

Loc = Sequence[int | str]

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ScenarioFileError(ValueError):
    """A scenario file that cannot be used; ``str()`` lists each problem as ``file:line: …``."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


def line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """The 1-based line of the deepest part of ``loc`` found in a composed YAML tree.

    Steps that are not in the tree (pydantic's union tags such as ``spike``) are skipped.
    """
    return _walk(node, loc)[0]


def _walk(node: yaml.Node | None, loc: Loc) -> tuple[int | None, list[int | str]]:
    """(line of the deepest step found, the steps found) of ``loc`` in a YAML tree."""
    if node is None:
        return None, list(loc)
    line = node.start_mark.line + 1
    found: list[int | str] = []
    for index, step in enumerate(loc):
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            child = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int):
            child = node.value[step] if 0 <= step < len(node.value) else None
        if child is not None:
            node = child
            line = node.start_mark.line + 1
            found.append(step)
        elif index == len(loc) - 1:
            found.append(step)  # a key that is missing: name it
    return line, found


def _where(loc: Loc) -> str:
    path = ""
    for step in loc:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path


class Located:
    """Turns a path in the file (``("sites", 3, "cell")``) into ``file:line: sites[3].cell``."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self._text = text
        self._tree: yaml.Node | None = None
        self._composed = False

    def at(self, loc: Loc, message: str) -> str:
        """One problem, with where it is."""
        if not self._composed:
            self._composed = True
            try:
                self._tree = yaml.compose(self._text, Loader=_Loader)
            except yaml.YAMLError:
                self._tree = None
        line, found = _walk(self._tree, loc)
        where = f"{self.source}:{line}" if line else self.source
        path = _where(found)
        return f"{where}: {path}: {message}" if path else f"{where}: {message}"


def parse_scenario(text: str, source: str = "<scenario>") -> tuple[ScenarioFile, Located]:
    """Validate the text of a scenario file; raise :class:`ScenarioFileError` with lines."""
    located = Located(source, text)
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else source
        problem = getattr(error, "problem", None) or str(error)
        raise ScenarioFileError(source, [f"{where}: not valid YAML: {problem}"]) from None
    if not isinstance(raw, dict):
        raise ScenarioFileError(source, [f"{source}: a scenario file is a mapping (format: …)"])
    try:
        model = ScenarioFile.model_validate(raw)
    except ValidationError as error:
        problems = [located.at(e["loc"], e["msg"]) for e in error.errors(include_url=False)]
        raise ScenarioFileError(source, problems) from None
    return model, located


def read_scenario(path: Path) -> tuple[ScenarioFile, Located]:
    """Read and validate a scenario file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioFileError(str(path), [f"{path}: cannot read: {error}"]) from None
    return parse_scenario(text, str(path))
