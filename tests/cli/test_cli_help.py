"""Help that tells the truth: real defaults, every fixed choice listed, no developer wording."""

from __future__ import annotations

import argparse

import pytest

from mnist_sgd import cli
from mnist_sgd.config.recipes import recipe_names
from mnist_sgd.config.registry import LOSSES, MODELS, OPTIMISERS, SCHEDULES
from mnist_sgd.datasets import DATASETS


def subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every command's parser by its path (``train``, ``data list``), depth first."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found[name] = sub
                found.update({f"{name} {k}": v for k, v in subparsers(sub).items()})
    return found


PARSER = cli.build_parser()
COMMANDS = {"mnist-sgd": PARSER, **subparsers(PARSER)}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_has_no_developer_wording_or_empty_defaults(name: str) -> None:
    text = COMMANDS[name].format_help()
    for wrong in ("default: None", "default None", "(default: False)", "shared/data", "issue "):
        assert wrong not in text, f"{name} --help says {wrong!r}"
    for action in COMMANDS[name]._actions:
        if isinstance(action, argparse._SubParsersAction):
            continue  # its choices are listed with their own help
        assert action.help, f"{name}: {action.option_strings or action.dest} has no help"


def test_every_command_uses_the_one_help_formatter() -> None:
    from mnist_sgd.cli.common import HelpFormatter

    for name, parser in COMMANDS.items():
        assert parser.formatter_class is HelpFormatter, name


def test_train_help_lists_every_registry_name_and_the_seed_defaults() -> None:
    text = " ".join(COMMANDS["train"].format_help().split())
    for names in (MODELS, LOSSES, OPTIMISERS, SCHEDULES, (*DATASETS, "PATH")):
        assert "{" + ",".join(names) + "}" in text
    assert all(name in text for name in recipe_names())
    for default in ("(default: 1.0)", "(default: 256)", "(default: 20)", "(default: linear)"):
        assert default in text
    assert "warmup_cosine" in text


def test_every_flag_with_fixed_choices_lists_them() -> None:
    for name, parser in COMMANDS.items():
        for action in parser._actions:
            if action.choices and not isinstance(action, argparse._SubParsersAction):
                listed = " ".join(parser.format_help().split())
                assert all(str(c) in listed for c in action.choices), (name, action.dest)
