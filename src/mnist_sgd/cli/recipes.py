"""``mnist-sgd recipes``: list the named recipes and the options each one sets."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mnist_sgd.cli.common import add_json_flag

EXAMPLES = """examples:
  mnist-sgd recipes                    # one recipe per line
  mnist-sgd recipes mnist-best         # every option of one recipe
  mnist-sgd recipes --json
  mnist-sgd train --recipe mnist-fast --epochs 3   # a recipe, one option changed
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the examples' line breaks."""


def add_parser(subparsers: Any) -> None:
    """Register ``recipes``."""
    from mnist_sgd.recipes import describe, recipe_names

    listing = "\n".join(f"  {describe(name)}" for name in recipe_names())
    p = subparsers.add_parser(
        "recipes",
        help="list the named training recipes",
        formatter_class=HelpFormatter,
        description="Named, frozen sets of training options for 'mnist-sgd train --recipe NAME'.",
        epilog=f"recipes:\n{listing}\n\n{EXAMPLES}",
    )
    p.add_argument("name", nargs="?", default=None, help="show every option of this recipe")
    add_json_flag(p, "the recipes and all their options")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Print the recipes (all, or one in full), as text or JSON."""
    from mnist_sgd.recipes import SUMMARIES, describe, get_recipe, recipe_names

    names = recipe_names() if args.name is None else [args.name]
    configs = {name: get_recipe(name) for name in names}
    if args.json:
        out = {
            n: {"summary": SUMMARIES.get(n, ""), "options": c.to_dict()} for n, c in configs.items()
        }
        print(json.dumps(out, indent=2))
    elif args.name is None:
        for name in names:
            print(describe(name))
    else:
        print(describe(args.name))
        for key, value in configs[args.name].to_dict().items():
            print(f"  {key:<13} {value}")
    return 0
