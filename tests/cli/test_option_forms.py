"""
Every option that takes a value accepts ``--opt VALUE`` and ``--opt=VALUE`` alike.

The test walks the parser `build_parser` returns, so an option added later is
checked without touching this file. ``run`` is parsed the way `main` parses
it, through `_split_run_argv`, which has to know where objlog's options end
and the step's command begins.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from objlog import cli

# A value each option's type accepts, by metavar or dest, when neither
# choices nor the type tell one (a URL, a name, a path, a number).
_SAMPLES = {
    "result": "metrics=out/metrics.json",
    "store": "s3://bucket/prefix",
    "tail": "5",
}


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Yield ``(command path, parser)`` for every leaf command, nested ones included."""
    subs = _subparsers(parser)
    if not subs and path:
        yield path, parser
    for name, sub in subs.items():
        yield from _commands(sub, (*path, name))


def _sample(action: argparse.Action) -> str:
    """Return a value `action` accepts."""
    if action.choices is not None:  # one that is not the default, so it changes the parse
        return str(next(c for c in action.choices if c != action.default))
    if action.dest in _SAMPLES:
        return _SAMPLES[action.dest]
    if action.type is int:
        return "3"
    if action.type is float:
        return "2.5"
    return "some-value"


def _valued_options() -> list[tuple[tuple[str, ...], str, str]]:
    """Every ``(command path, option string, sample value)`` whose option takes a value."""
    found = []
    for path, parser in _commands(cli.build_parser()):
        for action in parser._actions:
            if not action.option_strings or action.nargs == 0:
                continue
            for option in action.option_strings:
                found.append((path, option, _sample(action)))
    return found


VALUED = _valued_options()


def _parse(argv: list[str]) -> argparse.Namespace:
    """Parse `argv` as `main` does (``run``'s command cut off first)."""
    head, command = cli._split_run_argv(argv)
    args = cli.build_parser().parse_args(head)
    if command is not None:
        args.command = command
    return args


def _tail(path: tuple[str, ...]) -> list[str]:
    """What follows the options: ``run`` needs its command, ``query`` its SQL."""
    return {("run",): ["--", "echo", "hi"], ("query",): ["SELECT 1"]}.get(path, [])


def test_the_walk_finds_the_options_it_must() -> None:
    """The walk reaches nested commands and both kinds of option (so the test can fail)."""
    seen = {(path, option) for path, option, _ in VALUED}
    assert (("run",), "--compresslevel") in seen
    assert (("run",), "--sync-timeout") in seen
    assert (("result", "get"), "-o") in seen
    assert (("spool", "ls"), "--spool-dir") in seen
    assert (("cat",), "--max-line-bytes") in seen


@pytest.mark.parametrize(
    ("path", "option", "value"), VALUED, ids=[f"{' '.join(p)} {o}" for p, o, _ in VALUED]
)
def test_separate_and_joined_values_parse_the_same(
    path: tuple[str, ...], option: str, value: str
) -> None:
    """``OPT VALUE`` and ``OPT=VALUE`` (``-oVALUE`` for a short option) give the same namespace."""
    joined = f"{option}={value}" if option.startswith("--") else f"{option}{value}"
    separate = _parse([*path, option, value, *_tail(path)])
    together = _parse([*path, joined, *_tail(path)])
    assert vars(together) == vars(separate)
    default = _parse([*path, *_tail(path)])
    assert vars(default) != vars(separate), f"{option} {value} changed nothing"
    if path == ("run",):
        assert ["echo", "hi"] == separate.command


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "--compresslevel", "6", "echo", "hi"],
        ["run", "--sync-timeout", "5", "-q", "echo", "hi"],
        ["--version", "run", "--task", "t", "echo", "hi"],
    ],
)
def test_run_without_a_double_dash_starts_the_command_after_the_values(argv: list[str]) -> None:
    """Without ``--``, the step's command starts at the first word that is no option's value."""
    assert ["echo", "hi"] == cli._split_run_argv(argv)[1]


def test_run_abbreviated_option_takes_its_value() -> None:
    """An unambiguous abbreviation argparse accepts (``--compress 6``) takes its value too."""
    args = _parse(["run", "--compress", "6", "--", "echo", "hi"])
    assert 6 == args.compresslevel
    assert ["echo", "hi"] == args.command
