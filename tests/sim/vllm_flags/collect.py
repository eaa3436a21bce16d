"""Runs INSIDE a throwaway venv holding a real vLLM wheel (installed with --no-deps plus the light
pure-Python dependencies): builds vLLM's own `vllm serve` argument parser and prints it as JSON.

torch, CUDA kernels and the other heavy dependencies are not installed. Two import hooks stand in
for them: the named heavy packages, and any other missing top-level module imported from vLLM's own
code, become permissive stub modules. Argument parsing in vLLM is pure Python (dataclass fields,
type hints, Literal choices), so the stubs do not change which options exist; they can only change
the *defaults* of config classes that probe the hardware, which is why `generate.py` patches
`arg_utils._compute_kwargs` to turn a failing default factory into None (defaults are informational
in the table). Called by generate.py as: python collect.py OUT.json
"""

from __future__ import annotations

import argparse
import builtins
import importlib
import importlib.abc
import importlib.machinery
import json
import os
import sys
import types

HEAVY = {
    "torch", "triton", "flashinfer", "xgrammar", "llguidance", "outlines_core", "lm_format_enforcer", "numba",
    "torchvision", "torchaudio", "torchcodec", "cv2", "cupy", "ray", "tilelang", "quack", "tvm_ffi", "nvtx",
    "vllm._C", "vllm._moe_C", "vllm._rocm_C", "vllm.cumem_allocator", "vllm.vllm_flash_attn._vllm_fa2_C",
    "vllm.vllm_flash_attn._vllm_fa3_C", "vllm._flashmla_C", "vllm._flashmla_extension_C",
}


class Anything(type):
    """A class that answers every attribute, call, index and operator with another Anything."""

    def __getattr__(cls, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return make(name)

    def __call__(cls, *args, **kwargs):
        return make("inst")

    def __getitem__(cls, key):
        return cls

    def __or__(cls, other):
        return cls

    def __ror__(cls, other):
        return cls

    def __add__(cls, other):
        return other

    def __radd__(cls, other):
        return other

    def __mul__(cls, other):
        return cls

    def __rmul__(cls, other):
        return cls

    def __eq__(cls, other):
        return cls is other or (isinstance(other, Anything) and cls.__name__ == other.__name__)

    def __ne__(cls, other):
        return not Anything.__eq__(cls, other)

    def __hash__(cls):
        return id(cls)

    def __contains__(cls, item):
        return False

    def __enter__(cls):
        return cls

    def __exit__(cls, *exc):
        return False

    def __iter__(cls):
        return iter(())

    def __len__(cls):
        return 0

    def __bool__(cls):
        return False

    def __int__(cls):
        return 0

    def __index__(cls):
        return 0

    def __lt__(cls, other):
        return False

    def __gt__(cls, other):
        return False

    def __le__(cls, other):
        return True

    def __ge__(cls, other):
        return True

    def __mro_entries__(cls, bases):
        return (object,)


def make(name: str) -> Anything:
    """A fresh Anything; pydantic models may use it as a field type."""
    from pydantic_core import core_schema

    schema = classmethod(lambda cls, source, handler: core_schema.any_schema())
    return Anything(name, (object,), {"__get_pydantic_core_schema__": schema})


class StubModule(types.ModuleType):
    """A module whose every attribute is an Anything."""

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return make(name)


class HeavyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Stubs the heavy packages even where they (or their .so files) are present."""

    def find_spec(self, fullname, path, target=None):
        if fullname in HEAVY or fullname.split(".")[0] in HEAVY:
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = StubModule(spec.name)
        module.__version__ = "2.14.0"
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


class MissingFinder(HeavyFinder):
    """Last on the path: a top-level module vLLM imports that is not installed becomes a stub."""

    def find_spec(self, fullname, path, target=None):
        if "." in fullname or fullname.startswith("_") or fullname in sys.stdlib_module_names:
            return None
        frame = sys._getframe(1)
        while frame and ("importlib" in frame.f_code.co_filename or frame.f_code.co_filename.startswith("<")):
            frame = frame.f_back
        if not frame or f"{os.sep}vllm{os.sep}" not in frame.f_code.co_filename:
            return None
        HEAVY.add(fullname)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)


def safe_default(factory):
    """Called by the patched arg_utils: a config default that needs hardware becomes None."""
    try:
        return factory()
    except Exception:  # noqa: BLE001 - any failure: the default is informational only
        return None


def import_first(*names: str):
    """Import the first module that exists among `names` (vLLM moved things between versions)."""
    errors = []
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError as error:
            errors.append(f"{name}: {error}")
    raise ImportError("; ".join(errors))


def type_name(kind) -> str | None:
    """Classify an argparse `type` callable: int, float, str, human_int, json, json_or_str or its name."""
    if kind is None:
        return None
    if kind in (int, float, str):
        return kind.__name__
    name = getattr(kind, "__name__", type(kind).__name__)
    closure = getattr(kind, "__closure__", None) or ()
    inner = [cell.cell_contents for cell in closure if callable(getattr(cell, "cell_contents", None))]
    if name == "_optional_type" and inner:
        return type_name(inner[0])
    if name in ("parse_dataclass",):
        return "json"
    if name == "_parse_type" and inner:
        return "json" if getattr(inner[0], "__name__", "") == "loads" else type_name(inner[0])
    if name == "loads":
        return "json"
    return {
        "human_readable_int": "human_int",
        "human_readable_int_or_auto": "human_int_or_auto",
        "union_dict_and_str": "json_or_str",
    }.get(name, name)


def jsonable(value):
    """The default as JSON, or its repr; a default that holds a stub (a GPU-probing class) becomes None."""
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        text = repr(value)
        return None if "__main__" in text else text


def describe(parser: argparse.ArgumentParser) -> dict:
    """Every action of the serve parser, with every option string that parser accepts for it."""
    accepted: dict[int, list[str]] = {}
    for option, action in parser._option_string_actions.items():
        accepted.setdefault(id(action), []).append(option)
    group_of = {id(a): g.title for g in parser._action_groups for a in g._group_actions}
    deprecated = {id(a) for a in getattr(parser, "_deprecated", set())}
    options, positionals = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:
            positionals.append({"dest": action.dest, "nargs": action.nargs, "help": action.help})
            continue
        visible = list(action.option_strings)
        every = sorted(set(accepted.get(id(action), [])) | set(visible), key=lambda o: (o not in visible, o))
        negative = sorted(getattr(action, "negative_option_strings", None) or [])
        if isinstance(action, argparse.BooleanOptionalAction) and not negative:
            negative = [o for o in every if o.startswith("--no-")]
        kind = type(action).__name__
        options.append(
            {
                "flags": visible,
                "hidden_flags": [o for o in every if o not in visible],
                "dest": action.dest,
                "action": kind,
                "takes_value": action.nargs != 0,
                "nargs": action.nargs if action.nargs not in (None, 0) else None,
                "boolean": isinstance(action, argparse.BooleanOptionalAction),
                "negative_flags": negative,
                "choices": [jsonable(c) for c in action.choices] if action.choices is not None else None,
                "type": type_name(action.type),
                "const": jsonable(action.const),
                "default": jsonable(action.default),
                "metavar": action.metavar if isinstance(action.metavar, str) else None,
                "group": group_of.get(id(action)),
                "deprecated": id(action) in deprecated,
                "help": action.help if isinstance(action.help, str) else None,
            }
        )
    groups = [
        {"title": g.title, "description": g.description}
        for g in parser._action_groups
        if g._group_actions and g.title not in ("positional arguments", "options")
    ]
    return {"positionals": positionals, "options": options, "groups": groups}


def names_from_source(module: str) -> list[str]:
    """The `name = "..."` class attributes of a CLI module, read from its source."""
    import re
    from importlib.util import find_spec

    try:
        spec = find_spec(module)
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.origin:
        return []
    with open(spec.origin) as source:
        return re.findall(r'^    name = "([\w-]+)"$', source.read(), re.MULTILINE)


def subcommand_names(argparse_utils) -> list[str]:
    """The `vllm` subcommands, as the top-level usage line lists them."""
    modules = ["openai", "serve", "launch", "benchmark.main", "collect_env", "download_kernels", "preload",
               "run_batch", "snapshot"]
    names = []
    for module in modules:
        try:
            imported = importlib.import_module(f"vllm.entrypoints.cli.{module}")
            init = imported.cmd_init
            commands = init() if module != "snapshot" else init(create_requested=False)
        except Exception:  # noqa: BLE001 - a module that cannot init under the stubs: read its names
            names += names_from_source(f"vllm.entrypoints.cli.{module}")
            continue
        names += [c.name for c in commands]
    return names


def main() -> None:
    builtins._standin_safe = safe_default
    sys.meta_path.insert(0, HeavyFinder())
    sys.meta_path.append(MissingFinder())
    os.environ.setdefault("VLLM_TARGET_DEVICE", "cuda")
    sys.argv = ["vllm", "serve", "--help"]  # vLLM reads help texts only when --help is on the command line
    argparse_utils = import_first("vllm.utils.argparse_utils", "vllm.utils")
    cli_args = import_first("vllm.entrypoints.common.cli_args", "vllm.entrypoints.openai.cli_args")
    envs = importlib.import_module("vllm.envs")
    parser = cli_args.make_arg_parser(
        argparse_utils.FlexibleArgumentParser(prog="vllm serve", usage="vllm serve [model_tag] [options]")
    )
    from importlib.metadata import version

    table = {
        "vllm_version": version("vllm"),
        "how": "vLLM's own make_arg_parser(FlexibleArgumentParser()) and vllm/envs.py environment_variables",
        "subcommands": subcommand_names(argparse_utils),
        **describe(parser),
        "env_vars": sorted(envs.environment_variables),
    }
    with open(sys.argv_out, "w") as out:  # type: ignore[attr-defined]
        json.dump(table, out, indent=1, sort_keys=False)
        out.write("\n")


if __name__ == "__main__":
    sys.argv_out = sys.argv[1]  # type: ignore[attr-defined]
    main()
