"""The `vllm serve` command line, built from a flag table generated from a real vLLM (tests/sim/vllm_flags).

Which table: VLLM_STANDIN_TABLE, a table name (`vllm-0.33.0`, `vllm-mxfp4-fork`) or a path; else the
image's own choice, the file /opt/standin/image_table (a layer of its own per image, so images that follow
different vLLMs differ in layers, as real ones do: vllm-node 0.33.0, vllm-node-mxfp4 the MXFP4 fork);
else vllm-0.33.0.
Strictness: VLLM_STANDIN_STRICT, a comma list of `flags`, `model`, `help` (or `all`/`1` for every one):
  * with `flags`, only the options of that table parse, and an unknown one fails exactly like vLLM's
    argparse (`vllm: error: unrecognized arguments: ...`, exit 2); without it, options of any table the
    stand-in ships parse (so older launch lines keep working), still with the image table's types and choices;
  * `model`: see standin_model.py;
  * `help`: a 0.10-era table answers `--help=all` as 0.10.2 does (a keyword search for "all", so NOT every
    option); without it `--help=all` lists every option of any table. `--help` and `--help=<keyword>`
    always print the way the table's version does (0.33: config groups; 0.10: every option).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import sys
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import Any

from standin_log import log

DEFAULT_TABLE = "vllm-0.33.0"
DEFAULT_MAX_MODEL_LEN = 131072
SERVE_USAGE = "vllm serve [model_tag] [options]"
STRICT_MODES = ("flags", "model", "help")
IMAGE_TABLE_FILE = Path("/opt/standin/image_table")
JSON_TIP = (
    "When passing JSON CLI arguments, the following sets of arguments are equivalent:\n"
    '   --json-arg \'{"key1": "value1", "key2": {"key3": "value2"}}\'\n'
    "   --json-arg.key1 value1 --json-arg.key2.key3 value2\n\n"
    "Additionally, list elements can be passed individually using +:\n"
    '   --json-arg \'{"key4": ["value3", "value4", "value5"]}\'\n'
    "   --json-arg.key4+ value3 --json-arg.key4+='value4,value5'\n\n"
)
EPILOG = (
    "For full list:            vllm serve --help=all\n"
    "For a section:            vllm serve --help=ModelConfig    (case-insensitive)\n"
    "For a flag:               vllm serve --help=max-model-len  (_ or - accepted)\n"
    "Documentation:            https://docs.vllm.ai\n"
)
LEGACY_EPILOG = (
    "Tip: Use `vllm [serve|run-batch|bench <bench_type>] --help=<keyword>` to explore arguments from help.\n"
    "   - To view a argument group:     --help=ModelConfig\n"
    "   - To view a single argument:    --help=max-num-seqs\n"
    "   - To search by keyword:         --help=max\n"
    "   - To list all groups:           --help=listgroup\n"
    "   - To view help with pager:      --help=page"
)
# What the stand-in itself reads, whatever the table: attribute -> default.
USED = {
    "served_model_name": None,
    "tensor_parallel_size": 1,
    "pipeline_parallel_size": 1,
    "data_parallel_size": 1,
    "distributed_executor_backend": None,
    "max_model_len": None,
    "host": None,
    "port": None,
    "api_key": None,
    "enforce_eager": False,
    "gpu_memory_utilization": None,
    "headless": False,
    "nnodes": None,
    "node_rank": None,
    "master_addr": None,
    "master_port": None,
    "fail_on_environ_validation": False,
}


def table_dirs() -> list[Path]:
    """Where tables live: VLLM_STANDIN_TABLE_DIR, beside the stand-in (image), or in the source tree."""
    here = Path(__file__).resolve().parent
    dirs = [Path(d) for d in [os.environ.get("VLLM_STANDIN_TABLE_DIR")] if d]
    return dirs + [here / "vllm_flags", here.parent / "vllm_flags"]


def table_path(name: str) -> Path:
    """Resolve a table name or path."""
    if "/" in name or name.endswith(".json"):
        return Path(name)
    for directory in table_dirs():
        candidate = directory / f"{name}.json"
        if candidate.exists():
            return candidate
    sys.exit(f"vllm stand-in: no flag table {name!r} in {', '.join(map(str, table_dirs()))}")


@functools.cache
def load_table(name: str) -> dict:
    """Read one table."""
    return json.loads(table_path(name).read_text())


def image_table() -> dict:
    """The table of this image: VLLM_STANDIN_TABLE, else the image's /opt/standin/image_table, else the default."""
    chosen = os.environ.get("VLLM_STANDIN_TABLE")
    if not chosen and IMAGE_TABLE_FILE.is_file():
        chosen = IMAGE_TABLE_FILE.read_text().strip()
    return load_table(chosen or DEFAULT_TABLE)


def other_tables(table: dict) -> list[dict]:
    """Every other table the stand-in ships, for the lenient mode."""
    seen = {table["vllm_version"]}
    found = []
    for directory in table_dirs():
        for path in sorted(directory.glob("vllm-*.json")) if directory.is_dir() else []:
            other = load_table(str(path))
            if other["vllm_version"] not in seen:
                seen.add(other["vllm_version"])
                found.append(other)
    return found


def strict_modes() -> set[str]:
    """The strictnesses VLLM_STANDIN_STRICT turns on."""
    raw = {part.strip().lower() for part in os.environ.get("VLLM_STANDIN_STRICT", "").split(",") if part.strip()}
    if raw & {"1", "all", "true", "yes"}:
        return set(STRICT_MODES)
    unknown = raw - set(STRICT_MODES) - {"0", "false", "no"}
    if unknown:
        sys.exit(f"vllm stand-in: unknown VLLM_STANDIN_STRICT {', '.join(sorted(unknown))} (choose {STRICT_MODES})")
    return raw & set(STRICT_MODES)


def version_tuple(version: str) -> tuple[int, ...]:
    """`0.10.2+mxfp4` -> (0, 10, 2)."""
    return tuple(int(p) for p in re.findall(r"\d+", version.split("+")[0])[:3])


def legacy(table: dict) -> bool:
    """0.10-era behaviour: `--model` refused, `-O` means compilation-config, `--help` prints everything."""
    return version_tuple(table["vllm_version"]) < (0, 11)


VLLM_VERSION = image_table()["vllm_version"]


# ---- value types, as vLLM's parser converts them -------------------------------------------------------
def human_int(text: str) -> int:
    """vLLM's human-readable integers: 32k = 32000, 32K = 32768 (k/m/g, decimal or binary)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kKmMgGtT]?)", text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"Invalid human-readable integer: {text!r}")
    number, suffix = match.groups()
    scale = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12,
             "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}[suffix]
    if "." in number and suffix in "KMGT":
        raise argparse.ArgumentTypeError(f"Decimals are not allowed with binary suffixes: {text!r}")
    return int(float(number) * scale)


human_int.__name__ = "human_readable_int"


def human_int_or_auto(text: str) -> int:
    """`auto` (-1) or a human-readable integer."""
    return -1 if text.strip().lower() in ("auto", "-1") else human_int(text)


human_int_or_auto.__name__ = "human_readable_int_or_auto"


def json_value(text: str) -> object:
    """A JSON-valued option."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise argparse.ArgumentTypeError(f"invalid JSON {text!r}: {error}") from error


json_value.__name__ = "loads"


def json_or_str(text: str) -> object:
    """A dict as JSON, or a plain string."""
    try:
        return json.loads(text) if text.strip().startswith("{") else text
    except json.JSONDecodeError:
        return text


def comma_list(choices: list[str] | None):
    """A comma-separated list whose items must be among `choices`."""

    def parse(text: str) -> list[str]:
        items = [item.strip() for item in text.split(",") if item.strip()]
        bad = [item for item in items if choices and item not in choices]
        if bad or not items:
            raise argparse.ArgumentTypeError(
                f"invalid value {text!r}: expected a comma-separated list of {', '.join(choices or [])}"
            )
        return items

    parse.__name__ = "comma_list"
    return parse


TYPES = {"int": int, "float": float, "human_int": human_int, "human_int_or_auto": human_int_or_auto,
         "json": json_value, "json_or_str": json_or_str}


class TableBool(argparse.Action):
    """A boolean with its negative spellings (`--no-x`, `--disable-x`), as the table lists them."""

    def __init__(self, option_strings: list[str], dest: str, negative: list[str] = (), **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, **kwargs)
        self.negative = set(negative)

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        setattr(namespace, self.dest, option_string not in self.negative)


class SortedHelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """vLLM's help formatter: options sorted by their spellings, defaults shown."""

    def add_arguments(self, actions):
        super().add_arguments(sorted(actions, key=lambda a: a.option_strings))


class ServeParser(argparse.ArgumentParser):
    """The `vllm serve` subparser: its own errors carry `vllm serve:`, as a subparser's do."""


def add_option(parser: ServeParser, group: argparse._ArgumentGroup, option: dict, taken: set[str]) -> None:
    """Register one table option (every spelling it accepts; only the visible ones in help)."""
    spellings = [f for f in option["flags"] + option["hidden_flags"] if f not in taken]
    if not spellings:
        return
    visible = [f for f in option["flags"] if f in spellings] or spellings[:1]
    kwargs: dict[str, Any] = {"dest": option["dest"], "help": option.get("help") or None}
    # Only what the stand-in reads gets a default; the rest appear in the namespace only when given.
    kwargs["default"] = option.get("default") if option["dest"] in USED else argparse.SUPPRESS
    action = option["action"]
    if option["boolean"] or action in ("BooleanOptionalAction", "EnableDisableAction"):
        kwargs.update(action=TableBool, negative=option["negative_flags"])
    elif action == "_StoreTrueAction":
        kwargs["action"] = "store_true"
    elif action == "_StoreFalseAction":
        kwargs["action"] = "store_false"
    elif action == "_CountAction":
        kwargs["action"] = "count"
    elif not option["takes_value"]:
        kwargs.update(action="store_const", const=option.get("const"))
    else:
        if action == "_AppendAction":
            kwargs["action"] = "append"
        if option.get("nargs"):
            kwargs["nargs"] = option["nargs"]
        if option.get("choices") is not None:
            kwargs["choices"] = [c for c in option["choices"] if c is not None]
        if option.get("type") == "comma_list":
            kwargs["type"] = comma_list(option.get("list_choices"))
        elif option.get("type") in TYPES:
            kwargs["type"] = TYPES[option["type"]]
        if option.get("metavar"):
            kwargs["metavar"] = option["metavar"]
    if kwargs.get("default") is argparse.SUPPRESS and kwargs.get("action") == "store_true":
        kwargs["default"] = False
    added = group.add_argument(*spellings, **kwargs)
    added.option_strings = visible  # hidden spellings parse but stay out of help, as in vLLM
    taken.update(spellings)


def build_parser(table: dict, extra: list[dict] = ()) -> ServeParser:
    """The serve parser of `table`; options of the `extra` tables are added when not already there."""
    parser = ServeParser(
        prog="vllm serve",
        usage=SERVE_USAGE,
        description="Launch a local OpenAI-compatible API server to serve LLM completions via HTTP.",
        formatter_class=SortedHelpFormatter,
        add_help=False,
    )
    parser.add_argument("-h", "--help", action="store_true", default=False, help="show this help message and exit")
    for positional in table.get("positionals") or [{"dest": "model_tag", "nargs": "?", "help": None}]:
        parser.add_argument(positional["dest"], nargs=positional["nargs"], help=positional.get("help"))
    groups: dict[str | None, argparse._ArgumentGroup] = {None: parser._optionals, "options": parser._optionals}
    descriptions = {g["title"]: g.get("description") for g in table.get("groups", [])}
    taken = {"-h", "--help"}
    for source in [table, *extra]:
        for option in source["options"]:
            title = option.get("group")
            if title not in groups:
                groups[title] = parser.add_argument_group(title, descriptions.get(title))
            add_option(parser, groups[title], option, taken)
    return parser


# ---- vLLM's FlexibleArgumentParser preprocessing ------------------------------------------------------
def normalize(argv: list[str], table: dict) -> tuple[list[str], str | None]:
    """Underscores to dashes in option names, `-O`, dotted JSON keys, `--model`; return args and a --help= keyword."""
    old = legacy(table)
    if any(re.match(r"^--model(=.+|$)", a) for a in argv):
        if old:
            from standin_log import fail

            fail("utils.py:1815", "ValueError", "With `vllm serve`, you should provide the model as a positional "
                 "argument or in a config file instead of via the `--model` option.", ["utils/__init__.py:parse_args"])
        log("argparse_utils.py:331", "With `vllm serve`, you should provide the model as a positional argument or "
            "in a config file instead of via the `--model` option. The `--model` option will be removed in a "
            "future version.", "WARNING")
        index = next(i for i, a in enumerate(argv) if re.match(r"^--model(=.+|$)", a))
        if argv[index] == "--model" and index + 1 < len(argv):
            argv = [argv[index + 1], *argv[:index], *argv[index + 2:]]
        else:
            argv = [argv[index].removeprefix("--model="), *argv[:index], *argv[index + 1:]]
    keyword = None
    pattern = re.compile(r"(?<=--)[^\.]*")
    processed: list[str] = []
    for i, arg in enumerate(argv):
        if arg.startswith("--help=") and not old:
            keyword = arg.split("=", 1)[1].lower()
            processed.append("--help")
        elif arg.startswith("--help=") and old:
            keyword = arg.split("=", 1)[1]
            processed.append("--help")
        elif arg.startswith("--"):
            key, sep, value = arg.partition("=")
            processed.append(pattern.sub(lambda m: m.group(0).replace("_", "-"), key, count=1) + sep + value)
        elif arg.startswith("-O") and arg != "-O" and not (old and arg[2] == "."):
            level = arg[3:] if arg[2] == "=" else arg[2:]
            processed += [f"-O.level={level}"] if old else ["--optimization-level", level]
        elif arg == "-O" and i + 1 < len(argv) and argv[i + 1] in {"0", "1", "2", "3"}:
            processed.append("-O.level" if old else "--optimization-level")
        else:
            processed.append(arg)
    return merge_dotted(processed), keyword


def merge_dotted(args: list[str]) -> list[str]:
    """`--compilation-config.mode 3 -cc.x=1` become one `--compilation-config '{"mode": 3, ...}'`, as vLLM does."""
    delete: set[int] = set()
    merged: dict[str, dict] = defaultdict(dict)
    for i, arg in enumerate(args):
        if i in delete or not (arg.startswith("-") and "." in arg) or (arg.startswith("--") and "." not in arg):
            continue
        if "=" in arg:
            arg, value = arg.split("=", 1)
            if "." not in arg:
                continue
        elif i + 1 < len(args):
            value = args[i + 1]
            delete.add(i + 1)
        else:
            continue
        if arg.endswith("+"):
            arg, value = arg[:-1], json.dumps(value.split(","))
        key, *keys = arg.split(".")
        try:
            parsed: Any = json.loads(value)
        except json.JSONDecodeError:
            try:
                parsed = human_int(value)
            except argparse.ArgumentTypeError:
                parsed = value
        for inner in reversed(keys):
            parsed = {inner: parsed}
        deep_update(merged[key], parsed)
        delete.add(i)
    out = [a for i, a in enumerate(args) if i not in delete]
    for key, value in merged.items():
        out += [key, json.dumps(value)]
    return out


def deep_update(original: dict, update: dict) -> None:
    """Merge nested dicts; lists extend."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(original.get(key), dict):
            deep_update(original[key], value)
        elif isinstance(value, list) and isinstance(original.get(key), list):
            original[key] += value
        else:
            original[key] = value


# ---- help and errors ---------------------------------------------------------------------------------
def top_usage(table: dict) -> str:
    """`usage: vllm [-h] [-v] {chat,complete,serve,...} ...`"""
    return f"usage: vllm [-h] [-v] {{{','.join(table['subcommands'])}}} ..."


def unrecognized(table: dict, extras: list[str]) -> None:
    """Leftover arguments are reported by the top-level `vllm` parser (argparse subparsers work so)."""
    print(top_usage(table), file=sys.stderr)
    print(f"vllm: error: unrecognized arguments: {' '.join(extras)}", file=sys.stderr, flush=True)
    sys.exit(2)


def print_help(parser: ServeParser, table: dict, keyword: str | None) -> None:
    """vLLM's `--help` variants: 0.33 prints config groups, `=all` everything; 0.10 prints everything."""
    old = legacy(table)
    if keyword is None and old or keyword == "all" and not (old and "help" in strict_modes()):
        parser.epilog = LEGACY_EPILOG if old else JSON_TIP
        print(parser.format_help(), end="", flush=True)
        sys.exit(0)
    formatter = parser._get_formatter()
    if keyword is None:
        formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
        formatter.add_text(parser.description)
        formatter.start_section("Config Groups")
        groups = [g for g in parser._action_groups if g._group_actions]
        width = max(len(g.title or "") for g in groups) + 1
        wrap = max(formatter._width - formatter._current_indent, width + 20)
        text = ""
        for group in groups:
            title = group.title or ""
            lines = textwrap.wrap(summary(group.description), wrap, initial_indent=f"{title: <{width}}",
                                  subsequent_indent=" " * width)
            text += ("\n".join(lines) or title) + "\n"
        formatter.add_text(text)
        formatter.end_section()
        formatter.add_text(EPILOG)
        print(formatter.format_help(), end="", flush=True)
        sys.exit(0)
    search = keyword.replace("_", "-") if not old else keyword
    for group in parser._action_groups:
        if group.title and group.title.lower() == search.lower():
            formatter.start_section(group.title)
            formatter.add_text(summary(group.description) if not old else group.description)
            formatter.add_arguments(group._group_actions)
            formatter.end_section()
            formatter.add_text(None if old else JSON_TIP)
            print(formatter.format_help(), end="", flush=True)
            sys.exit(0)
    matched = [a for g in parser._action_groups for a in g._group_actions
               if any(search.lower() in o.lower() for o in a.option_strings)]
    if matched:
        formatter.start_section(f"Arguments matching '{search}'" if not old else None)
        formatter.add_arguments(matched)
        formatter.end_section()
        formatter.add_text(None if old else JSON_TIP)
        header = "" if not old else f"\nParameters matching '{search}':\n"
        print(header + formatter.format_help(), end="", flush=True)
        sys.exit(0)
    if old:
        print(f"\nNo group or parameter matching '{search}'\nTip: use `--help=listgroup` to view all groups.")
        sys.exit(1)
    print(f"No group or arguments matching '{search}'.\nUse '--help' to see available groups or "
          "'--help=all' to see all available parameters.", flush=True)
    sys.exit(0)


def summary(text: str | None) -> str:
    """The first sentence of a group description."""
    return (text or "").strip().split("\n\n")[0].replace("\n", " ")


# ---- the stand-in's entry points --------------------------------------------------------------------
def parse_serve_args(argv: list[str]) -> argparse.Namespace:
    """Parse `vllm serve` arguments as the image's vLLM would, and settle the model and served names."""
    table = image_table()
    strict = "flags" in strict_modes()
    parser = build_parser(table, [] if strict else other_tables(table))
    processed, keyword = normalize(argv, table)
    args, extras = parser.parse_known_args(processed)
    if args.help:
        print_help(build_parser(table) if not strict else parser, table, keyword)
    if extras:
        unrecognized(table, extras)
    for name, default in USED.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    args.model = args.model_tag
    if not args.model:
        parser.error("the following arguments are required: model_tag")
    if isinstance(args.api_key, list):
        args.api_key = args.api_key[0] if args.api_key else None
    args.served_names = args.served_model_name or [args.model]
    if not args.max_model_len or args.max_model_len < 0:
        args.max_model_len = DEFAULT_MAX_MODEL_LEN
    args.host = args.host or "0.0.0.0"
    args.port = args.port or 8000
    args.table = table
    return args


def non_default_args(args: argparse.Namespace) -> dict[str, object]:
    """The arguments that differ from the table's defaults, for the startup log line."""
    defaults = {o["dest"]: o.get("default") for o in args.table["options"]}
    skip = {"model_tag", "served_names", "api_key", "help", "table", "model"}
    return {
        k: v for k, v in vars(args).items() if k not in skip and k in defaults and defaults.get(k) != v
    } | ({"model": args.model})


def check_environment(table: dict, fail_on_unknown: bool) -> None:
    """vLLM 0.33's Platform.validate_environ: a VLLM_* variable it does not read is logged (or fatal)."""
    if table.get("unknown_env", "warn") == "ignore":
        return
    known = set(table["env_vars"])
    for name in os.environ:
        if name.startswith("VLLM_") and not name.startswith("VLLM_STANDIN_") and name not in known:
            if fail_on_unknown:
                from standin_log import fail

                fail("interface.py:1465", "ValueError", f"Unknown vLLM environment variable detected: {name}",
                     ["engine/arg_utils.py:create_engine_config", "platforms/interface.py:validate_environ"])
            log("interface.py:1469", f"Unknown vLLM environment variable detected: {name}", "WARNING")
