"""Load a YAML config file into a pydantic model, with errors that name file, line and field.

Shared by the mock's and the gateway's config loaders. A config mistake must read like
``mock.yaml:12: deployments[1].tpm: Input should be greater than 0`` — never a traceback — so the
YAML is composed into nodes first, and each pydantic error location is walked back to its node's line.
"""

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


class ConfigError(Exception):
    """A config file could not be used; ``str()`` is the message to show a person."""


_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand_env(text: str, source: str = "<config>", environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${VAR}`` / ``${VAR:-default}`` so secrets and ports can come from the environment
    (``environ``, default ``os.environ``: who builds a config for someone else passes the values explicitly)."""
    environ = os.environ if environ is None else environ

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        value = environ.get(name)
        if value is None:
            if default is None:
                line = text.count("\n", 0, match.start()) + 1
                raise ConfigError(f"{source}:{line}: environment variable {name} is not set (write ${{{name}:-default}} for a default)")
            return default
        return value

    return _ENV.sub(substitute, text)


def load_model(model: type[Model], path: str | Path, env: bool = False, environ: Mapping[str, str] | None = None) -> Model:
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_model(model, expand_env(text, str(path), environ) if env else text, str(path))


def parse_model(model: type[Model], text: str, source: str = "<config>") -> Model:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}:1: the top level must be a mapping, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, node, source)) from None


def _describe(exc: ValidationError, root: yaml.Node | None, source: str) -> str:
    lines = []
    for error in exc.errors():
        loc = [part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-"))]
        line = _line_of(root, loc)
        field = _format_loc(loc) or "(top level)"
        lines.append(f"{source}:{line}: {field}: {error['msg']}")
    return "\n".join(lines)


def _format_loc(loc: list[Any]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_of(node: yaml.Node | None, loc: list[Any]) -> int:
    """The 1-based line of the deepest node on ``loc`` that exists in the file."""
    line = (node.start_mark.line + 1) if node is not None else 1
    for part in loc:
        child = None
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == str(part):
                    child = value
                    line = key.start_mark.line + 1
                    break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
            line = child.start_mark.line + 1
        if child is None:
            break
        node = child
    return line
