"""Command line: `python3 -m textstats [FILE]` prints statistics of FILE (or stdin)."""

import argparse
import sys

from textstats import stats


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="textstats", description="Statistics about text.")
    parser.add_argument("file", nargs="?", help="file to read (default: stdin)")
    return parser


def main(argv=None, stdin=None, stdout=None) -> int:
    args = build_parser().parse_args(argv)
    stdin = stdin if stdin is not None else sys.stdin
    stdout = stdout if stdout is not None else sys.stdout
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            text = handle.read()
    else:
        text = stdin.read()
    print(f"lines: {stats.line_count(text)}", file=stdout)
    print(f"chars: {stats.char_count(text)}", file=stdout)
    return 0
