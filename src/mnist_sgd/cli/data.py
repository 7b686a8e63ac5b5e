"""``mnist-sgd data list | fetch NAME | info NAME | verify NAME``: the datasets, from the shell.

A thin layer over :mod:`mnist_sgd.datasets`: parse, build ``DataOptions``,
call the library, print a table (or JSON), return an exit code. ``list`` and
``info`` only look at the registry and the cache folder: no torch.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from mnist_sgd.cli.common import (
    CACHE_ENV,
    MIRROR_ENV,
    add_data_options,
    data_options,
    human_size,
    print_table,
)
from mnist_sgd.datasets import DATASETS, DataOptions, DatasetInfo, cache_status, get_info
from mnist_sgd.datasets.registry import is_dataset_path

EXAMPLES = f"""examples:
  mnist-sgd data list
  mnist-sgd data fetch mnist_sample                 # official URL -> cache
  mnist-sgd data fetch mnist --mirror /srv/mnist --offline   # a folder of the official files
  mnist-sgd data fetch mnist_sample --extract        # also unpack, for the book's path.ls()
  mnist-sgd data info fashion_mnist --json
  mnist-sgd data info kmnist                         # Kuzushiji-MNIST; also qmnist
  mnist-sgd data verify fashion_mnist --data-path /usr/share/datasets/fashion-mnist
  mnist-sgd data info ~/kaggle/digit-recognizer/train.csv    # your own set, by its path

environment: {CACHE_ENV} moves the cache, {MIRROR_ENV} sets the mirror."""
ACTIONS = {
    "list": "the datasets, their sizes and what the cache holds",
    "fetch": "download NAME into the cache (checked) and decode it once",
    "info": "everything known about NAME: URLs, checksums, splits, cache files",
    "verify": "recheck NAME's cached or local copy and its tensor cache",
}


def add_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "data",
        help="list, fetch, inspect and verify datasets",
        description="List, download, inspect and verify the datasets mnist-sgd knows.",
        epilog=EXAMPLES,
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in ACTIONS.items():
        sub = actions.add_parser(action, help=text, description=text)
        if action != "list":
            sub.add_argument(
                "name",
                type=dataset_name,
                metavar="NAME|PATH",
                help=f"{', '.join(DATASETS)}, or a path to your own set (a folder of class "
                "folders, a Kaggle CSV, a folder of IDX files)",
            )
        if action in ("list", "info"):
            sub.add_argument("--json", action="store_true", help="print JSON instead of a table")
        if action == "fetch":
            sub.add_argument(
                "--extract", action="store_true", help="also unpack an archive dataset"
            )
        add_data_options(sub)
        sub.set_defaults(needs_torch=action in ("fetch", "verify"))
    parser.set_defaults(run=run)


def dataset_name(text: str) -> str:
    """argparse type: a registry name or a path (a user's set)."""
    if text in DATASETS or is_dataset_path(text):
        return text
    raise argparse.ArgumentTypeError(
        f"invalid choice: {text!r} (choose from {', '.join(DATASETS)}, or give a path)"
    )


def run(args: argparse.Namespace) -> int:
    options = data_options(args)
    if args.action != "list" and is_dataset_path(args.name):
        return _own(args.action, args.name, options, as_json=getattr(args, "json", False))
    if args.action == "list":
        return _list(options, as_json=args.json)
    if args.action == "fetch":
        return _fetch(args.name, options, extract=args.extract)
    if args.action == "info":
        return _info(args.name, options, as_json=args.json)
    return _verify(args.name, options)


def _list(options: DataOptions, *, as_json: bool) -> int:
    rows = [_list_row(info, options) for info in DATASETS.values()]
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    header = ("name", "classes", "train", "valid", "download", "fetched", "cached", "title")
    print_table(header, [_list_cells(row) for row in rows])
    print(f"cache: {options.resolved_cache_dir()}")
    return 0


def _list_cells(row: dict[str, Any]) -> tuple[object, ...]:
    yes = {True: "yes", False: "no"}
    size = "?" if row["download_bytes"] is None else human_size(row["download_bytes"])
    return (
        row["name"],
        row["classes"],
        row["train"],
        row["valid"],
        size,
        yes[row["fetched"]],
        yes[row["tensor_cache"]],
        row["title"],
    )


def _list_row(info: DatasetInfo, options: DataOptions) -> dict[str, Any]:
    status = cache_status(info.name, options)
    return {
        "name": info.name,
        "title": info.title,
        "classes": len(info.classes),
        "train": info.train.size,
        "valid": info.valid.size,
        "download_bytes": info.download_size,
        "fetched": status.fetched,
        "tensor_cache": status.tensor_cache_present,
    }


def _fetch(name: str, options: DataOptions, *, extract: bool) -> int:
    from mnist_sgd.datasets import fetch, load_dataset

    where = fetch(name, options, extract=extract)
    data = load_dataset(name, options)  # decodes once, so the next load is instant
    print(f"{name}: {where}")
    print(f"{name}: {len(data.train_images)} train, {len(data.valid_images)} valid images cached")
    return 0


def _info(name: str, options: DataOptions, *, as_json: bool) -> int:
    info = get_info(name)
    if as_json:
        print(json.dumps(_facts(info, options), indent=2))
        return 0
    print(f"{info.name}: {info.title}")
    print(f"  classes   {', '.join(info.classes)}")
    for split in info.splits:
        counts = split.class_counts
        per_class = ", ".join(map(str, counts)) if counts else "per class: not published"
        print(f"  {split.name:<9} {split.size} images ({per_class})")
    for file in info.files:
        size = human_size(file.size) if file.size is not None else "size not published"
        print(f"  file      {file.path}  {size}  md5 {file.md5}")
        print(f"            {file.url}")
    if info.content_sha256:
        print(f"  content   sha256 {info.content_sha256}")
    else:
        print("  content   sha256 not published: recorded in the tensor cache on the first load")
    print(f"  licence   {info.licence}")
    status = cache_status(name, options)
    for path, present in status.downloads:
        print(f"  cached    {path} ({'present' if present else 'not fetched'})")
    tensor_state = "present" if status.tensor_cache_present else "not built"
    print(f"  tensors   {status.tensor_cache} ({tensor_state})")
    return 0


def _facts(info: DatasetInfo, options: DataOptions) -> dict[str, object]:
    files = [
        {"path": f.path, "url": f.url, "size": f.size, "md5": f.md5}
        | ({"payload_sha256": f.payload_sha256} if f.payload_sha256 else {})
        | ({"payload_md5": f.payload_md5} if f.payload_md5 else {})
        for f in info.files
    ]
    splits = {
        s.name: {"size": s.size, "per_class": list(s.class_counts) if s.class_counts else None}
        for s in info.splits
    }
    return {
        "name": info.name,
        "title": info.title,
        "kind": info.kind,
        "classes": list(info.classes),
        "splits": splits,
        "files": files,
        "content_sha256": info.content_sha256,
        "homepage": info.homepage,
        "licence": info.licence,
        "cache": cache_status(info.name, options).as_dict(),
    }


def _verify(name: str, options: DataOptions) -> int:
    from mnist_sgd.datasets import verify

    report = verify(name, options)
    for line in report.checks:
        print(f"ok  {line}")
    print(f"{name}: verified")
    return 0


def _own(action: str, path: str, options: DataOptions, *, as_json: bool) -> int:
    """``fetch``/``info``/``verify`` of a user's set: decode it (once), say what it holds.

    ``verify`` decodes the files again, whatever the cache holds, and compares.
    """
    from mnist_sgd.datasets import load_dataset
    from mnist_sgd.datasets.own import verify_own

    data = load_dataset(path, options)
    facts = {
        "source": data.source,
        "classes": list(data.classes),
        "train": len(data.train_labels),
        "valid": len(data.valid_labels),
        "content_sha256": data.digest,
        "valid_pct": data.valid_pct,
        "split_seed": data.split_seed,
    }
    if action == "verify":
        verify_own(data.source, data.digest)
    if as_json:
        print(json.dumps(facts, indent=2))
        return 0
    print(data.sizes_line())
    print(f"  classes   {', '.join(data.classes)}")
    print(f"  content   sha256 {data.digest}")
    if action == "verify":
        print(f"{data.source}: verified (decoded again, the content matches the tensor cache)")
    return 0
