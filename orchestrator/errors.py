"""Expected failures: each prints as one clear message with its own exit code."""

from __future__ import annotations


class SparkctlError(Exception):
    """Base of every failure sparkctl expects and explains."""

    exit_code = 1


class ConfigError(SparkctlError):
    """An inventory, recipe or template is invalid; nothing ran."""

    exit_code = 2


class LintError(SparkctlError):
    """A recipe breaks a rule with severity error; `--force` overrides."""

    exit_code = 3


class TopologyError(ConfigError):
    """The recipe and the chosen topology or nodes do not fit together."""


class PartialFailure(SparkctlError):
    """A read or cleanup command did its work on every reachable node; the message names the others."""

    exit_code = 4


class ExecutionError(SparkctlError):
    """A step failed on a node; the message names node, phase, command and stderr."""

    exit_code = 5


class ConnectionFailed(ExecutionError):
    """A node could not be reached over SSH, or stopped answering."""


class Cancelled(ExecutionError):
    """A step stopped because its phase failed elsewhere or the user interrupted."""


class HostKeyError(ExecutionError):
    """A node's SSH host key is unknown or changed."""


class Interrupted(SparkctlError):
    """The user pressed Ctrl-C (exit 130) or sparkctl got SIGTERM (exit 143); what this run started is rolled back."""

    exit_code = 130

    def __init__(self, message: str, terminated: bool = False):
        super().__init__(message)
        self.exit_code = 143 if terminated else 130


class Terminated(KeyboardInterrupt):
    """SIGTERM, delivered like Ctrl-C so the same cleanup runs."""


class StateConflict(SparkctlError):
    """The cluster runs something else, or another sparkctl holds the lock."""

    exit_code = 6
