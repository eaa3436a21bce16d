"""The inventory: which Sparks exist, how to reach them, and their fabric link."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from orchestrator.config import values
from orchestrator.config.yamlsource import raise_validation_error, read_yaml
from orchestrator.errors import ConfigError

Name = Annotated[str, AfterValidator(values.name)]
IP = Annotated[str, AfterValidator(values.ip_literal)]
Text = Annotated[str, AfterValidator(values.plain_text)]
LocalPath = Annotated[str, AfterValidator(values.local_path)]
Port = Annotated[int, Field(ge=1, le=65535, strict=True)]
Mount = Annotated[str, AfterValidator(values.mount_spec)]
Ulimit = Annotated[str | int, AfterValidator(values.ulimit_value)]
NameList = Annotated[str, AfterValidator(values.name_list)]

DEFAULT_MOUNTS = {
    "huggingface": "~/.cache/huggingface:/root/.cache/huggingface",
    "vllm": "~/.cache/vllm:/root/.cache/vllm",
    "flashinfer": "~/.cache/flashinfer:/root/.cache/flashinfer",
    "tiktoken_rs": "~/.cache/tiktoken_rs:/root/.cache/tiktoken_rs",
    "ccache": "~/.cache/ccache:/root/.cache/ccache",
    "triton": "~/.triton:/root/.triton",
}

# Spark needs unlimited locked memory for RDMA/NCCL; override per site (a sandbox may cap it).
DEFAULT_ULIMITS = {"memlock": "-1", "nofile": "1048576"}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Frozen):
    """Inventory-wide settings every node inherits."""

    # Unset, the SSH user and port come from ~/.ssh/config (or ssh's own defaults), as with plain ssh.
    user: Name | None = None
    port: Port | None = None
    ssh_key: LocalPath | None = None
    known_hosts: LocalPath | None = None
    ssh_config: LocalPath | None = None
    api_port: Port = 8000
    ray_port: Port = 6379
    master_port: Port = 29501
    proxy_port: Port = 4000
    proxy_image: Text = "litellm/litellm:v1.108.7"
    mounts: dict[Name, Mount | None] = {}
    ulimits: dict[Name, Ulimit | None] = {}
    # How RDMA devices reach a cluster's containers: the devices and IPC_LOCK only (least privilege, eugr's
    # non-privileged mode), the whole host (--privileged), or not at all (NCCL then falls back to TCP sockets).
    rdma: Literal["devices", "privileged", "off"] = "devices"
    # Ray >= 2.52 checks a shared token on every connection; without it whoever reaches Ray's ports runs code.
    ray_auth: Literal["token", "off"] = "token"
    # The share of a node's unified memory a stack may give its deployments (the sum of their
    # gpu-memory-utilization); the rest stays for the OS and the page cache, which grows back between drops.
    memory_budget: Annotated[float, Field(gt=0, le=1)] = 0.85


class Node(_Frozen):
    """One Spark: management address for SSH/HTTP, fabric address for Ray/NCCL."""

    name: Name
    ip: IP
    fabric_ip: IP | None = None
    fabric_if: Name | None = None
    rdma_dev: NameList | tuple[Name, ...] | None = None
    user: Name | None = None
    port: Port | None = None
    ssh_key: LocalPath | None = None
    memory_budget: Annotated[float, Field(gt=0, le=1)] | None = None

    @property
    def rdma_devices(self) -> tuple[str, ...]:
        """The node's active RoCE devices (a ConnectX-7 shows two), from `rdma_dev: a,b` or a list."""
        raw = self.rdma_dev or ()
        return tuple(d.strip() for d in (raw.split(",") if isinstance(raw, str) else raw) if d.strip())

    @property
    def ray_ip(self) -> str:
        """The address Ray, NCCL and vLLM must bind: the fabric link, else management."""
        return self.fabric_ip or self.ip


class Inventory(_Frozen):
    """All nodes, in order: the first is the head of a cluster."""

    defaults: Defaults = Defaults()
    nodes: tuple[Node, ...]
    source: Text = "<memory>"

    @model_validator(mode="after")
    def _unique(self) -> Inventory:
        if not self.nodes:
            raise ValueError("lists no nodes; add at least one under 'nodes:'")
        for attr in ("name", "ip", "ray_ip"):
            seen: set[str] = set()
            for node in self.nodes:
                value = getattr(node, attr)
                if value in seen:
                    label = "fabric_ip" if attr == "ray_ip" else attr
                    raise ValueError(f"two nodes share {label} '{value}'; each node needs its own")
                seen.add(value)
        return self

    def node(self, node_name: str) -> Node:
        """The node called node_name, or a ConfigError listing the known names."""
        for node in self.nodes:
            if node.name == node_name:
                return node
        known = ", ".join(n.name for n in self.nodes)
        raise ConfigError(f"{self.source}: no node named '{values.shown(node_name)}'; the inventory has: {known}")

    def user_of(self, node: Node) -> str | None:
        """The SSH user for a node; None lets ~/.ssh/config (or the local user name) decide."""
        return node.user or self.defaults.user

    def port_of(self, node: Node) -> int | None:
        """The SSH port for a node; None lets ~/.ssh/config (or 22) decide."""
        return node.port or self.defaults.port

    def key_of(self, node: Node) -> str | None:
        """The SSH private key path for a node, resolved relative to the inventory file."""
        return self._path(node.ssh_key or self.defaults.ssh_key)

    def known_hosts_path(self) -> str | None:
        """The known_hosts file the inventory names, if any."""
        return self._path(self.defaults.known_hosts)

    def ssh_config_path(self) -> str | None:
        """The ssh_config file the inventory names, if any."""
        return self._path(self.defaults.ssh_config)

    def memory_budget_of(self, node: Node) -> float:
        """The share of node's memory a stack may use: the node's own budget, else the inventory's."""
        return node.memory_budget if node.memory_budget is not None else self.defaults.memory_budget

    def mounts(self) -> dict[str, str]:
        """The standard cache mounts merged with the inventory's own (null removes one)."""
        merged = {**DEFAULT_MOUNTS, **self.defaults.mounts}
        return {key: value for key, value in merged.items() if value is not None}

    def ulimits(self) -> dict[str, str]:
        """Container ulimits: Spark's defaults merged with the inventory's own (null removes one)."""
        merged = {**DEFAULT_ULIMITS, **self.defaults.ulimits}
        return {key: str(value) for key, value in merged.items() if value is not None}

    def _path(self, raw: str | None) -> str | None:
        if raw is None:
            return None
        expanded = Path(os.path.expanduser(raw))
        if not expanded.is_absolute():
            expanded = Path(self.source).parent / expanded
        return str(expanded)


_FIELDS = {
    (): tuple(Inventory.model_fields.keys() - {"source"}),
    ("defaults",): tuple(Defaults.model_fields),
    ("nodes",): tuple(Node.model_fields),
}


def load_inventory(path: Path) -> Inventory:
    """Read and validate an inventory file."""
    doc = read_yaml(path)
    if "source" in doc.data:
        raise doc.error(("source",), "unknown key")
    try:
        return Inventory.model_validate({**doc.data, "source": str(path)})
    except ValidationError as exc:
        raise_validation_error(doc, exc, _FIELDS)
        raise


def find_inventory(explicit: str | None) -> Path:
    """The inventory path: --inventory, $SPARKCTL_INVENTORY, ./inventory.yaml, then the XDG config dir."""
    candidates = [explicit, os.environ.get("SPARKCTL_INVENTORY"), "inventory.yaml", str(config_dir() / "inventory.yaml")]
    for candidate in candidates:
        if candidate and checked_path(candidate, "inventory").is_file():
            return Path(candidate)
        if candidate and candidate in (explicit, os.environ.get("SPARKCTL_INVENTORY")):
            raise ConfigError(f"{values.shown(candidate)}: inventory file not found")
    raise ConfigError(
        "no inventory found: pass --inventory FILE, set SPARKCTL_INVENTORY, "
        f"or create ./inventory.yaml or {config_dir() / 'inventory.yaml'}"
    )


def checked_path(raw: str, label: str) -> Path:
    """A path from the command line or environment, refused before the OS would call it too long."""
    try:
        values.local_path(raw)
    except ValueError as exc:
        raise ConfigError(f"{label} {values.shown(raw)}: {exc}") from None
    return Path(raw)


def config_dir() -> Path:
    """sparkctl's per-user config dir (XDG)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "sparkctl"
