"""``litproj`` (and ``python -m litproj``): project tools beside train.py. ``litproj doctor`` checks the machine."""

from __future__ import annotations

import argparse


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="litproj", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("doctor", help="versions, GPUs, what this machine can run, known bad states and fixes")
    if parser.parse_args(argv).command == "doctor":  # argv None: sys.argv[1:]
        from litproj.troubleshoot.doctor import doctor

        raise SystemExit(doctor())


if __name__ == "__main__":
    main()
