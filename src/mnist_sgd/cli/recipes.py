"""``mnist-sgd recipes``: list the named recipes and the options each one sets."""

from __future__ import annotations

import argparse
import json
from typing import Any

from mnist_sgd.cli.common import add_json_flag, print_table
from mnist_sgd.config.recipes import SUMMARIES, get_recipe, options, recipe_names, setting_text

EXAMPLES = """examples:
  mnist-sgd recipes                    # a table: name, what it is for, the options it sets
  mnist-sgd recipes mnist-best         # every option of one recipe
  mnist-sgd recipes --json
  mnist-sgd train --recipe mnist-fast --epochs 3   # a recipe, one option changed
"""


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "recipes",
        help="list the named training recipes",
        description="Named, frozen sets of training options for 'mnist-sgd train --recipe NAME'.",
        epilog=f"recipes: {', '.join(recipe_names())}\n\n{EXAMPLES}",
    )
    p.add_argument(
        "name", nargs="?", choices=recipe_names(), help="show every option of this recipe"
    )
    add_json_flag(p, "the recipes and all their options")
    p.set_defaults(run=run, needs_torch=False)


def run(args: argparse.Namespace) -> int:
    names = recipe_names() if args.name is None else [args.name]
    if args.json:
        out = {
            n: {"summary": SUMMARIES.get(n, ""), "options": get_recipe(n).to_dict()} for n in names
        }
        print(json.dumps(out, indent=2))
    elif args.name is None:
        rows = [(n, SUMMARIES.get(n, ""), setting_text(options(n))) for n in names]
        print_table(("recipe", "what it is", "options (beyond the seed's)"), rows)
    else:
        print(f"{args.name}: {SUMMARIES.get(args.name, '')}")
        for key, value in get_recipe(args.name).to_dict().items():
            print(f"  {key:<13} {value}")
    return 0
