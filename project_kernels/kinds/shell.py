"""Activation scripts read without a shell: which variables they set, if that is all they do.

conda (``etc/conda/activate.d/*.sh``) and pixi (the same, plus the project's
``[activation] scripts``) source shell scripts on activation. A kernel is
started without a shell, and nothing here runs one. So a script is honoured
only when every line is one of

- blank, or a comment;
- ``export NAME=VALUE`` or ``NAME=VALUE`` (each taken as an export), or ``export NAME``;
- ``unset NAME ...``;

where VALUE is a shell word made of literal text, ``'single quoted'`` and
``"double quoted"`` parts, and ``$NAME``, ``${NAME}`` or ``${NAME:-default}``
references. Such a script becomes an ordered list of assignments, expanded at
launch against the kernel's variables as they are built
(:func:`project_kernels.activation.expand`). Any other line (a condition, a
function, a command, command substitution) means the whole script is left out,
and :class:`Script` says which line and why: its effect cannot be known
without running it.

In the templates produced, ``$$`` stands for a literal ``$``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

#: One assignment: a variable and its template, or None to unset it.
Export = tuple[str, "str | None"]

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ASSIGNMENT = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_EXPORT_ONLY = re.compile(r"^export(\s+[A-Za-z_][A-Za-z0-9_]*)+\s*;?$")
_UNSET = re.compile(r"^unset(\s+-v)?((\s+[A-Za-z_][A-Za-z0-9_]*)+)\s*;?$")


class NotStatic(ValueError):
    """A script line whose effect cannot be known without running it."""


@dataclass(frozen=True)
class Script:
    """What an activation script does to the variables, or why it is not honoured."""

    path: Path
    exports: tuple[Export, ...] = ()
    #: Why the script is left out (None: it is honoured).
    refused: str | None = None


def read_script(path: Path) -> Script:
    """Read one activation script (see the module's rules)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        return Script(path, refused=f"cannot be read ({error})")
    try:
        return Script(path, exports=tuple(parse(text)))
    except NotStatic as why:
        return Script(path, refused=str(why))


def parse(text: str) -> list[Export]:
    """The assignments of a script made only of assignments; raises :class:`NotStatic`."""
    exports: list[Export] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            exports += _parse_line(line)
        except NotStatic as why:
            shown = line if len(line) <= 60 else line[:57] + "..."
            raise NotStatic(f"line {number} ({shown!r}) {why}") from None
    return exports


def _parse_line(line: str) -> list[Export]:
    if _EXPORT_ONLY.match(line):
        return []
    unset = _UNSET.match(line)
    if unset:
        return [(name, None) for name in unset.group(2).split()]
    match = _ASSIGNMENT.match(line)
    if not match:
        raise NotStatic("does more than set variables")
    name, rest = match.groups()
    template, rest = shell_word(rest)
    rest = rest.strip()
    if rest.startswith(";"):
        rest = rest[1:].strip()
    if rest and not rest.startswith("#"):
        raise NotStatic("does more than set one variable")
    return [(name, template)]


def shell_word(text: str) -> tuple[str, str]:
    """The template of the shell word at the start of ``text``, and what follows it."""
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char.isspace() or char in ";":
            break
        if char in "|&<>()`":
            raise NotStatic(f"uses {char!r}")
        if char == "'":
            end = text.find("'", index + 1)
            if end < 0:
                raise NotStatic("has an unterminated quote")
            out.append(text[index + 1 : end].replace("$", "$$"))
            index = end + 1
        elif char == '"':
            index = _double_quoted(text, index + 1, out)
        elif char == "\\":
            if index + 1 < len(text):
                out.append(text[index + 1].replace("$", "$$"))
            index += 2
        elif char == "$":
            index = _reference(text, index, out)
        else:
            out.append(char)
            index += 1
    return "".join(out), text[index:]


def double_quoted_template(value: str) -> str:
    """The template of ``value`` written between double quotes in a shell script."""
    out: list[str] = []
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`")
    _double_quoted(escaped + '"', 0, out)
    return "".join(out)


def _double_quoted(text: str, index: int, out: list[str]) -> int:
    while index < len(text):
        char = text[index]
        if char == '"':
            return index + 1
        if char == "`":
            raise NotStatic("uses command substitution")
        if char == "\\" and index + 1 < len(text) and text[index + 1] in '$`"\\':
            out.append(text[index + 1].replace("$", "$$"))
            index += 2
        elif char == "$":
            index = _reference(text, index, out)
        else:
            out.append(char)
            index += 1
    raise NotStatic("has an unterminated quote")


def _reference(text: str, index: int, out: list[str]) -> int:
    """Copy the ``$...`` reference at ``index`` into ``out`` in its ``${...}`` form."""
    following = text[index + 1 : index + 2]
    if following == "{":
        end = text.find("}", index + 2)
        if end < 0:
            raise NotStatic("has an unterminated ${")
        inner = text[index + 2 : end]
        name, sep, default = inner.partition(":-")
        if not _NAME.fullmatch(name) or "$" in default or "`" in default:
            raise NotStatic(f"uses ${{{inner}}}, which needs a shell")
        out.append("${" + name + (sep + default.replace("$", "$$") if sep else "") + "}")
        return end + 1
    match = _NAME.match(text, index + 1)
    if match:
        out.append("${" + match.group(0) + "}")
        return match.end()
    if following and not following.isspace() and following != '"':
        raise NotStatic(f"uses ${following}, which needs a shell")
    out.append("$$")
    return index + 1


_TEMPLATE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-((?:[^}$]|\$\$)*))?\}")


def expand(template: str, variables: dict[str, str]) -> str:
    """A template of :func:`shell_word` with its references replaced, as the shell would."""

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        value = variables.get(match.group(1), "")
        if not value and match.group(2) is not None:
            return match.group(2).replace("$$", "$")
        return value

    return _TEMPLATE.sub(one, template)
