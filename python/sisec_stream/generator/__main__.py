"""``python -m sisec_stream.generator [flags]``: write a scenario (same flags as the CLI)."""

from __future__ import annotations

import argparse
import sys

from sisec_stream.generator.cli import add_generate_arguments, run_generate


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and write the scenario; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m sisec_stream.generator",
        description="Write a seeded synthetic city scenario (events, watchlist, truth).",
    )
    add_generate_arguments(parser)
    return run_generate(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
