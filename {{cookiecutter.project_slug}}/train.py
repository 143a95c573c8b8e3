#!/usr/bin/env python
"""Train, test, validate or predict: ``python train.py --help``."""

from {{ cookiecutter.package_name }}.cli.runner import main

if __name__ == "__main__":
    main()
