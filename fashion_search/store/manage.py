"""Operate the index versions of a store: list, rollback, cleanup, snapshot, restore.

    python -m fashion_search.store.manage list      [--store .qdrant] [--collection products]
    python -m fashion_search.store.manage rollback  [--to v0002]
    python -m fashion_search.store.manage cleanup   --keep 2
    python -m fashion_search.store.manage snapshot  [--out snapshots/]
    python -m fashion_search.store.manage restore   --snapshot FILE

Readers (page, CLI, eval) follow a rollback or a restore on their next query, without a restart.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from fashion_search.store.base import StoreError
from fashion_search.store.versions import pick_rollback, to_remove

log = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    from fashion_search.settings import load_settings

    settings = load_settings()
    parser = argparse.ArgumentParser(prog="fashion_search.store.manage", description=__doc__.split("\n")[0])
    parser.add_argument("command", choices=("list", "rollback", "cleanup", "snapshot", "restore"))
    parser.add_argument("--store", default=settings.location, help="Edge dir, http(s)://HOST:PORT, local:PATH")
    parser.add_argument("--collection", default=settings.collection)
    parser.add_argument("--to", default=None, help="rollback: the version to serve (default: the previous one)")
    parser.add_argument("--keep", type=int, default=None, help="cleanup: complete versions to keep (>= 1)")
    parser.add_argument("--out", default="snapshots", help="snapshot: directory the snapshot file goes to")
    parser.add_argument("--snapshot", default=None, help="restore: the snapshot file to bring back")
    return parser


def run(args: argparse.Namespace, base_store=None) -> dict:
    from fashion_search.ingest.target import open_versions

    versions, close = open_versions(args.store, args.collection, base_store)
    try:
        if args.command == "list":      # reading needs no writer lock: it works while an ingest runs
            serving = versions.serving()
            return {"serving": serving.name if serving else None,
                    "versions": [{"name": v.name, "state": v.state, "model": (v.model or {}).get("name"),
                                  "weights": (v.model or {}).get("weights_hash", "")[:12], **v.info}
                                 for v in sorted(versions.versions().values(), key=lambda v: v.number)]}
        with versions.writing():
            serving = versions.serving()
            if args.command == "rollback":
                target = pick_rollback(versions.versions(), serving, args.to)
                versions.switch(target)
                log.info("now serving %s (was %s)", target.name, serving.name if serving else None)
                return {"serving": target.name, "was": serving.name if serving else None}
            if args.command == "cleanup":
                if args.keep is None:
                    raise StoreError("cleanup needs --keep N (complete versions to keep, the served one included)")
                removed = to_remove(versions.versions(), serving, args.keep)
                for version in removed:
                    versions.discard(version)
                return {"removed": [v.name for v in removed], "serving": serving.name if serving else None}
            from fashion_search.store import snapshots

            if args.command == "snapshot":
                if serving is None:
                    raise StoreError(f"nothing to snapshot: no collection {args.collection!r} at {args.store}")
                return {"snapshot": str(snapshots.create(versions, serving, args.out))}
            if not args.snapshot:
                raise StoreError("restore needs --snapshot FILE (written by `manage snapshot`)")
            return {"restored": snapshots.restore(versions, args.snapshot)}
    finally:
        close()


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except StoreError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
