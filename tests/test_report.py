"""The texts people read: paths in them are shown safely (report.sanitize)."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from project_kernels.environments import ProblemCode
from project_kernels.report import PROBLEM_LABELS, sanitize


def test_ordinary_paths_are_shown_as_they_are() -> None:
    path = "/home/ada/Projekte/Größe 2024/.venv-3.12_(old)"
    assert sanitize(path) == path


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("/p/a\x1b[2Jb", "/p/a?[2Jb"),  # an escape sequence that would clear a terminal
        ("/p/a\nProblem: none", "/p/a?Problem: none"),  # a forged line in the report
        ("/p/a\rb\tc\x00d\x7fe\x85f", "/p/a?b?c?d?e?f"),
        ("/p/\u202egnp.exe", "/p/?gnp.exe"),  # a right-to-left override reorders what follows
        ("/p/zero\u200bwidth\ufeff", "/p/zero?width?"),
        ("/p/line\u2028sep", "/p/line?sep"),
    ],
)
def test_control_and_invisible_characters_become_question_marks(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


def test_undecodable_bytes_of_a_file_name_can_be_printed() -> None:
    name = os.fsdecode(b"caf\xe9")  # Latin-1 bytes: a surrogate escape in a str path
    assert sanitize(f"/p/{name}").encode("utf-8") == b"/p/caf?"


def test_html_is_replaced_by_look_alikes() -> None:
    shown = sanitize("/p/<img src=x onerror=alert(1)>&amp;")
    assert "<" not in shown and ">" not in shown and "&" not in shown
    assert shown == "/p/\u2039img src=x onerror=alert(1)\u203a\uff06amp;"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("https://evil.example/login", "https[:]//evil.example/login"),
        ("javascript://%0aalert(1)", "javascript[:]//%0aalert(1)"),
        ("/p/data:text/html,x", "/p/data[:]text/html,x"),
        ("/p/www.evil.example/nb", "/p/www[.]evil.example/nb"),
        ("/p/myWWW.evil.example", "/p/myWWW[.]evil.example"),
    ],
)
def test_what_jupyterlab_would_turn_into_a_link_is_bracketed(raw: str, shown: str) -> None:
    assert sanitize(raw) == shown


def test_a_bracketed_path_still_names_the_directory_in_a_shell(tmp_path: Path) -> None:
    real = tmp_path / "www.example" / "data:set"
    real.mkdir(parents=True)
    shown = sanitize(str(real))
    assert shown != str(real)
    assert glob.glob(shown) == [str(real)]


def test_every_problem_has_a_few_words_for_labels() -> None:
    # The status bar and the kernel picker name an environment's first problem by its label.
    assert set(PROBLEM_LABELS) == set(ProblemCode)
