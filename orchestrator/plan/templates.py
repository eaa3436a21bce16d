"""The jinja2 environment that renders remote scripts with every value shell-quoted."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2

from orchestrator.config.paths import builtin_dir
from orchestrator.errors import ConfigError
from orchestrator.plan import shell


@lru_cache(maxsize=4)
def environment(templates_dir: str | None) -> jinja2.Environment:
    """Templates from --templates-dir first, then the built-in ones."""
    search = ([templates_dir] if templates_dir else []) + [str(builtin_dir("templates"))]
    if templates_dir and not Path(templates_dir).is_dir():
        raise ConfigError(f"{templates_dir}: templates directory not found")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(search),
        undefined=jinja2.StrictUndefined,
        finalize=shell.finalize,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(name: str, templates_dir: str | None = None, **context: Any) -> str:
    """Render templates/<name>.sh.j2 into a script (one command per line)."""
    env = environment(templates_dir)
    try:
        text = env.get_template(f"{name}.sh.j2").render(**context)
    except jinja2.TemplateNotFound:
        raise ConfigError(f"template '{name}.sh.j2' not found in {templates_dir or builtin_dir('templates')}") from None
    except jinja2.TemplateError as exc:
        where = f"{exc.filename}:{exc.lineno}" if getattr(exc, "lineno", None) else f"{name}.sh.j2"
        raise ConfigError(f"{where}: template error: {exc.message}") from None
    return "\n".join(line for line in text.splitlines() if line.strip()) + "\n"
