"""Hyperparameter search with Ray Tune: ``python tune.py --help``. Every trial is a ``train.py`` run."""

from {{ cookiecutter.package_name }}.tune.runner import main

if __name__ == "__main__":
    main()
