"""Every `dsc ...` command the docs show parses with the real command line, so a
renamed or removed option cannot linger in README.md, docs/*.md or the systemd
units of deploy/systemd/.

The docs' code blocks are read as a shell would split them (each stage of a
pipeline that runs dsc counts, as in `echo pw | dsc user add ...`), with the synopsis
notation they use: `a|b` in a word is one of the alternatives (each must parse),
`[...]` is optional (the line must parse with every optional part and without
them), `...` is left out, and a placeholder (CAPS like N or SERIAL, `<...>`, or
a shell expansion like "$(cat k)") stands for some valid value."""

import argparse
import contextlib
import io
import itertools
import os
import pathlib
import re
import shlex

import pytest

from host.cli import build_parser

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
UNITS = sorted((ROOT / "deploy" / "systemd").glob("*.service"))
RUNS_DSC = re.compile(r"(^|\s)(\S*/)?dsc(\s|$)")  # dsc, or /opt/.../bin/dsc, as a word
PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9_]*(:[A-Z_]+)?\Z|<[^>]*>\Z|.*\$")
# Values a placeholder may stand for: a number, a purpose, 20 bytes of hex key (all digits, too).
STAND_INS = ("1", "login", "3132333435363738393031323334353637383930")


def without_abbreviations(parser):
    """The parser and its subcommands' parsers, taking only options spelled in full:
    an abbreviation that dsc accepts today breaks once another option shares its start."""
    parser.allow_abbrev = False
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                without_abbreviations(sub)
    return parser


@pytest.fixture(scope="module")
def parser():
    return without_abbreviations(build_parser(None))


def strip_comment(line):
    """The line up to a shell comment: a # at the start of a word, outside quotes."""
    quote = None
    for i, c in enumerate(line):
        if quote:
            quote = None if c == quote else quote
        elif c in "'\"":
            quote = c
        elif c == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


def code_lines(path):
    """(line number, text) of each logical line inside ``` blocks, continuations joined."""
    inside, pending, start = False, "", 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if line.lstrip().startswith("```"):
            inside, pending = not inside, ""
            continue
        if not inside:
            continue
        if not pending:
            start = number
        text = pending + strip_comment(line).strip()
        if text.endswith("\\"):
            pending = text[:-1] + " "
            continue
        pending = ""
        yield start, text


def dsc_commands(text):
    """The argument lists of the `dsc` commands in a line, one per pipeline stage
    that runs dsc (a lone | between words is a pipe, as in the shell)."""
    if text.startswith("$ "):
        text = text[2:]
    if not RUNS_DSC.search(text):
        return []  # not shell (JSON, Python, a picture): no need to split it
    words = shlex.split(text)
    stages = [list(group) for is_pipe, group in itertools.groupby(words, lambda w: w == "|") if not is_pipe]
    return [stage[1:] for stage in stages if stage and os.path.basename(stage[0]) == "dsc"]


def variants(args):
    """Each reading of a synopsis: optional parts all in, all out; each alternative of a|b."""
    def pieces(with_optional):
        out, depth = [], 0
        for word in args:
            if word.startswith("["):
                depth += 1
            optional = depth > 0
            if word.endswith("]"):
                depth -= 1
            if word == "...":
                continue
            if not optional or with_optional:
                out.append([word.strip("[]")] if "|" not in word else word.strip("[]").split("|"))
        assert depth == 0, "unbalanced [ ] in %r" % " ".join(args)
        return [list(choice) for choice in itertools.product(*out)]

    seen = []
    for reading in pieces(True) + pieces(False):
        if reading not in seen:
            seen.append(reading)
    return seen


def parse_error(parser, args):
    """None when `args` parse (placeholders standing for some valid value), else the
    parser's message, preferring one about a word that is not a placeholder."""
    choices = [[w] + list(STAND_INS) if PLACEHOLDER.match(w) else [w] for w in args]
    placeholders = [w for w in args if PLACEHOLDER.match(w)]
    errors = []
    for attempt in itertools.product(*choices):
        stderr = io.StringIO()
        try:
            with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
                parser.parse_args(list(attempt))
            return None
        except SystemExit as e:
            if e.code == 0:  # --help, --version
                return None
            errors.append(stderr.getvalue().strip() or "exit %s" % e.code)
    about_real_words = [e for e in errors if not any("'%s'" % w in e for w in placeholders)]
    return (about_real_words or errors)[0]


def failures(parser, path):
    """(commands checked, [(where, command, error)]) for one document."""
    found, bad = 0, []
    for number, text in code_lines(path):
        where = "%s:%d" % (path.relative_to(ROOT) if ROOT in path.parents else path.name, number)
        try:
            commands = dsc_commands(text)
        except ValueError as e:  # unbalanced quotes
            bad.append((where, text, str(e)))
            continue
        for args in commands:
            for reading in variants(args):
                found += 1
                error = parse_error(parser, reading)
                if error:
                    bad.append((where, "dsc " + " ".join(reading), error))
    return found, bad


def exec_starts(unit):
    """The ExecStart= command lines of a systemd unit, without systemd's prefixes (- @ + ! :)."""
    for line in unit.read_text().splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.strip() == "ExecStart":
            yield value.strip().lstrip("-@+!:")


def test_every_dsc_command_in_the_docs_parses(parser):
    checked, bad = 0, []
    for path in DOCS:
        found, errors = failures(parser, path)
        checked += found
        bad += errors
    assert not bad, "commands in the docs that dsc refuses:\n" + "\n".join("%s: %s\n    %s" % b for b in bad)
    assert checked >= 40, "only %d dsc commands found in the docs: is the extraction broken?" % checked


MAKE_RUN = re.compile(r'make run DEMO_ARGS="([^"]*)"')


def test_every_make_run_demo_args_in_the_docs_parses(parser):
    """make run hands DEMO_ARGS to `dsc demo --state .state` (Makefile): every DEMO_ARGS the
    docs show, in prose or in a code block, must parse there."""
    shown = [(path.name, args) for path in DOCS for args in MAKE_RUN.findall(path.read_text())]
    assert shown, "README.md shows no make run DEMO_ARGS=\"...\" line: is the pattern broken?"
    for name, args in shown:
        error = parse_error(parser, ["demo", "--state", ".state"] + shlex.split(args))
        assert error is None, "%s: make run DEMO_ARGS=\"%s\": %s" % (name, args, error)


def test_the_portal_doc_gives_the_content_security_policy_the_portal_sends():
    from host.portal.web import CSP

    text = " ".join((ROOT / "docs" / "portal.md").read_text().split())  # the doc wraps it across lines
    assert "`Content-Security-Policy: %s`" % CSP in text


def test_every_systemd_unit_runs_a_dsc_command_that_parses(parser):
    names = {u.name for u in UNITS}
    assert {"opendsc.service", "opendsc-sweep.service"} <= names
    for unit in UNITS:
        commands = [c for line in exec_starts(unit) for c in dsc_commands(line)]
        assert commands, "%s has no ExecStart running dsc" % unit.name
        for args in commands:
            error = parse_error(parser, args)
            assert error is None, "%s: ExecStart dsc %s: %s" % (unit.name, " ".join(args), error)


def test_a_wrong_option_is_caught(parser, tmp_path):
    """The check itself: an option dsc lacks, a missing required one, a bad choice,
    a wrong alternative, an abbreviated option."""
    doc = tmp_path / "doc.md"
    doc.write_text("```sh\n"
                   "dsc serve --listen 127.0.0.1:8080 --trusted-proxy 127.0.0.1   # fine\n"
                   "dsc serve --bogus-option 1\n"
                   "echo pw | dsc user add alice\n"
                   "dsc apikey create --role \\\n    superuser\n"
                   "dsc device revoke|erase alice --serial CC-1\n"
                   "dsc audit [--after ID] [--outcome maybe]\n"
                   "dsc serve --worker 2   # argparse would take it for --workers\n"
                   "```\n")
    found, bad = failures(parser, doc)
    assert found == 9  # the alternatives and the optional parts are read one by one
    assert [where for where, command, error in bad] == ["doc.md:3", "doc.md:4", "doc.md:5", "doc.md:7", "doc.md:8",
                                                        "doc.md:9"]
    errors = [error for where, command, error in bad]
    assert "--bogus-option" in errors[0] and "--password-stdin" in errors[1] and "superuser" in errors[2]
    assert "erase" in errors[3] and "maybe" in errors[4] and "--worker" in errors[5]
