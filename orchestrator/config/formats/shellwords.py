"""Split a recipe's shell command into words the way bash would, refusing shell syntax sparkctl cannot reproduce.

A foreign recipe's `command` runs through bash. sparkctl runs `vllm serve` itself, so only a single simple
command is accepted: words, quotes, escapes and backslash-newline continuations. Expansions, operators,
globs, brace expansion and several commands are refused rather than guessed at.
"""

from __future__ import annotations

OPERATORS = set(";&|<>()")
PATTERN_CHARS = set("*?[{}")
_DOUBLE_QUOTE_ESCAPES = set('$`"\\')


class ShellSyntax(ValueError):
    """The command uses shell syntax that is not a plain list of words."""


def split_words(text: str) -> list[str]:
    """The words of one simple command, after quote removal."""
    splitter = _Splitter(text)
    splitter.run()
    return splitter.words


class _Splitter:
    def __init__(self, text: str):
        self.text = text
        self.pos = 0
        self.words: list[str] = []
        self.word: list[str] = []
        self.started = False

    def run(self) -> None:
        while self.pos < len(self.text):
            self.step(self.text[self.pos])
        self.flush()

    def step(self, ch: str) -> None:
        if ch == "\\":
            self.backslash()
        elif ch == "'":
            self.single_quoted()
        elif ch == '"':
            self.double_quoted()
        elif ch in " \t":
            self.flush()
            self.pos += 1
        elif ch == "\n" or (ch == "#" and not self.started):
            self.end_of_command(ch)
        else:
            self.plain(ch)

    def plain(self, ch: str) -> None:
        if ch in "$`":
            raise ShellSyntax(f"shell expansion '{ch}' at offset {self.pos}; write the value itself")
        if ch in OPERATORS:
            raise ShellSyntax(f"shell operator '{ch}' at offset {self.pos}; only one plain command is supported")
        if ch in PATTERN_CHARS:
            raise ShellSyntax(f"unquoted '{ch}' at offset {self.pos} (bash would expand it); quote the value")
        if ch == "~" and not self.started:
            raise ShellSyntax(f"unquoted '~' at offset {self.pos} (bash would expand it); write the path")
        self.add(ch)
        self.pos += 1

    def backslash(self) -> None:
        nxt = self.text[self.pos + 1:self.pos + 2]
        if not nxt:
            raise ShellSyntax("the command ends with a lone backslash")
        if nxt != "\n":  # backslash-newline is a continuation: it disappears
            self.add(nxt)
        self.pos += 2

    def single_quoted(self) -> None:
        end = self.text.find("'", self.pos + 1)
        if end < 0:
            raise ShellSyntax(f"unterminated single quote at offset {self.pos}")
        self.add(self.text[self.pos + 1:end])
        self.pos = end + 1

    def double_quoted(self) -> None:
        start = self.pos
        self.pos += 1
        self.started = True
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch == '"':
                self.pos += 1
                return
            if ch in "$`":
                raise ShellSyntax(f"shell expansion '{ch}' inside double quotes at offset {self.pos}")
            if ch == "\\":
                self.escaped_in_double_quotes()
                continue
            self.word.append(ch)
            self.pos += 1
        raise ShellSyntax(f"unterminated double quote at offset {start}")

    def escaped_in_double_quotes(self) -> None:
        nxt = self.text[self.pos + 1:self.pos + 2]
        if nxt == "\n":
            pass
        elif nxt in _DOUBLE_QUOTE_ESCAPES and nxt:
            self.word.append(nxt)
        else:
            self.word.append("\\")
            self.pos += 1
            return
        self.pos += 2

    def end_of_command(self, ch: str) -> None:
        self.flush()
        newline = self.text.find("\n", self.pos)
        rest = self.text[newline + 1:] if newline >= 0 else ""
        if rest.strip():
            what = "a comment" if ch == "#" else "a newline"
            raise ShellSyntax(f"{what} at offset {self.pos} ends the command and more follows: several commands "
                              "are not supported; join the lines with a trailing backslash")
        self.pos = len(self.text)

    def add(self, text: str) -> None:
        self.word.append(text)
        self.started = True

    def flush(self) -> None:
        if self.started:
            self.words.append("".join(self.word))
        self.word = []
        self.started = False
