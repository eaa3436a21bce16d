"""Generate the stand-in's flag tables from real vLLM releases (run by hand; CI never runs this).

    python tests/sim/vllm_flags/generate.py 0.33.0           # writes vllm-0.33.0.json
    python tests/sim/vllm_flags/generate.py 0.10.2 --fork    # writes vllm-0.10.2.json and vllm-mxfp4-fork.json

How a table is made (needs the package registry and ~1 GB of scratch space, ~2 minutes a version):
1. `pip download --no-deps vllm==X` (the real wheel), then a throwaway venv under --work with that wheel
   installed `--no-deps` plus vLLM's light pure-Python dependencies (pydantic, transformers, fastapi,
   openai, ...). torch and the CUDA stack are NOT installed: their wheels are several GB and need a GPU
   to import anyway.
2. `collect.py` runs in that venv: it imports vLLM with import hooks that stub torch, the compiled
   kernels and any other missing module, builds vLLM's own parser,
   `make_arg_parser(FlexibleArgumentParser())` (module `vllm.entrypoints.common.cli_args` in 0.33,
   `vllm.entrypoints.openai.cli_args` in 0.10), and reads `vllm/envs.py`'s `environment_variables`.
   So every option, its visible and hidden spellings (`--no-x`, `--disable-x`), whether it takes a value,
   its choices and its type come from the real parser, not from reading the source.
   One patch to the throwaway copy: `arg_utils._compute_kwargs` calls the default factories of the nested
   config classes, some of which probe the GPU (ParallelConfig, DeviceConfig); a failing factory yields
   None. Only the informational `default` field of those options is affected.
3. The table is written as JSON: vllm_version, subcommands, positionals, options (flags, hidden_flags,
   takes_value, nargs, boolean, negative_flags, choices, type, default, group, help), groups, env_vars,
   and `unknown_env` (how that version treats a VLLM_* variable it does not read: 0.33 logs
   "Unknown vLLM environment variable detected: NAME" from `Platform.validate_environ`, or fails with
   `--fail-on-environ-validation`; 0.10.2 has no such check and ignores it).

The MXFP4 fork (`--fork`, image `vllm-node-mxfp4`): the write-up's image is a patched 0.10.2. Its table
is the 0.10.2 table plus, by `patch_mxfp4_fork` below:
  * `--mxfp4-layers` (a comma list of moe,qkv,o,lm_head; default moe),
  * `--mxfp4-backend` (choices marlin, triton, flashinfer, cutlass; default marlin),
  * env `VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8` (already read by upstream 0.10.2, kept),
  * `vllm_version` "0.10.2+mxfp4" and `derived_from` "vllm-0.10.2.json".
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

HERE = Path(__file__).resolve().parent
LIGHT_DEPS = (
    "pydantic", "transformers", "huggingface_hub", "tokenizers", "regex", "cachetools", "psutil", "numpy",
    "requests", "tqdm", "fastapi", "openai", "pyyaml", "typing_extensions", "cloudpickle", "msgspec", "pyzmq",
    "filelock", "prometheus_client", "pillow", "blake3", "py-cpuinfo", "sentencepiece", "safetensors",
    "protobuf",
)
UNKNOWN_ENV = {"0.10.2": "ignore"}  # versions before Platform.validate_environ existed
FORK_OPTIONS = [
    {
        "flags": ["--mxfp4-layers"],
        "hidden_flags": [],
        "dest": "mxfp4_layers",
        "action": "_StoreAction",
        "takes_value": True,
        "nargs": None,
        "boolean": False,
        "negative_flags": [],
        "choices": None,
        "list_choices": ["moe", "qkv", "o", "lm_head"],
        "type": "comma_list",
        "const": None,
        "default": "moe",
        "metavar": None,
        "group": "ModelConfig",
        "deprecated": False,
        "help": "Comma-separated layer kinds quantized to MXFP4 (moe, qkv, o, lm_head). MXFP4 fork only.",
    },
    {
        "flags": ["--mxfp4-backend"],
        "hidden_flags": [],
        "dest": "mxfp4_backend",
        "action": "_StoreAction",
        "takes_value": True,
        "nargs": None,
        "boolean": False,
        "negative_flags": [],
        "choices": ["marlin", "triton", "flashinfer", "cutlass"],
        "type": "str",
        "const": None,
        "default": "marlin",
        "metavar": None,
        "group": "ModelConfig",
        "deprecated": False,
        "help": "Kernel backend for MXFP4 layers. MXFP4 fork only.",
    },
]
FORK_ENV = ("VLLM_USE_FLASHINFER_MOE_MXFP4_MXFP8",)


def run(argv: list[str], timeout: float = 900) -> None:
    """Run one step, bounded, echoing the command."""
    print("+", " ".join(argv), file=sys.stderr, flush=True)
    subprocess.run(argv, check=True, timeout=timeout)


def make_venv(version: str, work: Path) -> Path:
    """A throwaway venv with the real vLLM wheel (no deps) and the light dependencies; returns its python."""
    wheels = work / f"wheels-{version}"
    if not any(wheels.glob("vllm-*.whl")):
        run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", f"vllm=={version}", "-d", str(wheels)])
    env_dir = work / f"venv-{version}"
    python = env_dir / "bin" / "python"
    if not python.exists():
        venv.create(env_dir, with_pip=True)
        run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(next(wheels.glob("vllm-*.whl")))])
        run([str(python), "-m", "pip", "install", "-q", *light_requirements(next(wheels.glob("vllm-*.whl")))])
    patch_compute_kwargs(env_dir)
    return python


def light_requirements(wheel: Path) -> list[str]:
    """The light dependencies, each with the version bounds this vLLM wheel declares for it."""
    import re
    import zipfile

    with zipfile.ZipFile(wheel) as zipped:
        (metadata,) = [n for n in zipped.namelist() if n.endswith(".dist-info/METADATA")]
        lines = zipped.read(metadata).decode().splitlines()
    declared = {}
    for line in lines:
        if line.startswith("Requires-Dist:") and "extra ==" not in line:
            requirement = line.removeprefix("Requires-Dist:").split(";")[0].strip()
            name = re.split(r"[\s\[<>=!~]", requirement, maxsplit=1)[0].lower().replace("_", "-")
            declared[name] = re.sub(r"\[[^\]]*\]", "", requirement)
    return [declared.get(dep.lower().replace("_", "-"), dep) for dep in LIGHT_DEPS]


def patch_compute_kwargs(env_dir: Path) -> None:
    """Make hardware-probing default factories harmless in the throwaway copy (see the docstring)."""
    (arg_utils,) = env_dir.glob("lib/python3*/site-packages/vllm/engine/arg_utils.py")
    text = arg_utils.read_text()
    safe = "__import__('builtins')._standin_safe"
    text = text.replace(
        "default = default.default_factory()  # type: ignore[call-arg]", f"default = {safe}(default.default_factory)"
    )
    text = text.replace("default = field.default_factory()\n", f"default = {safe}(field.default_factory)\n")
    arg_utils.write_text(text)


def generate(version: str, work: Path) -> dict:
    """Build the table of one release with its real parser."""
    python = make_venv(version, work)
    out = work / f"table-{version}.json"
    run([str(python), str(HERE / "collect.py"), str(out)], timeout=600)
    table = json.loads(out.read_text())
    if table["vllm_version"] != version:
        raise SystemExit(f"the venv holds vLLM {table['vllm_version']}, not {version}")
    table["unknown_env"] = UNKNOWN_ENV.get(version, "warn")
    table["generated_by"] = "tests/sim/vllm_flags/generate.py (real parser)"
    return table


def patch_mxfp4_fork(base: dict) -> dict:
    """The write-up's MXFP4 fork: the 0.10.2 table plus the fork's two flags and its env var."""
    fork = json.loads(json.dumps(base))
    known = {f for option in fork["options"] for f in option["flags"] + option["hidden_flags"]}
    for option in FORK_OPTIONS:
        if not set(option["flags"]) & known:
            fork["options"].append(option)
    fork["env_vars"] = sorted(set(fork["env_vars"]) | set(FORK_ENV))
    fork["vllm_version"] = f"{base['vllm_version']}+mxfp4"
    fork["derived_from"] = f"vllm-{base['vllm_version']}.json"
    fork["generated_by"] = "tests/sim/vllm_flags/generate.py --fork (0.10.2 table + patch_mxfp4_fork)"
    return fork


def write(table: dict, path: Path) -> None:
    """Write a table as stable, diff-friendly JSON."""
    path.write_text(json.dumps(table, indent=1) + "\n")
    print(f"wrote {path} ({len(table['options'])} options, {len(table['env_vars'])} env vars)", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("version", help="a vLLM release, e.g. 0.33.0")
    parser.add_argument("--fork", action="store_true", help="also write vllm-mxfp4-fork.json from this table")
    parser.add_argument("--work", type=Path, default=Path("/var/tmp/sparkctl-vllm-flags"), help="scratch space")
    parser.add_argument("--keep", action="store_true", help="keep the scratch venv and wheel")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    table = generate(args.version, args.work)
    write(table, HERE / f"vllm-{args.version}.json")
    if args.fork:
        write(patch_mxfp4_fork(table), HERE / "vllm-mxfp4-fork.json")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
