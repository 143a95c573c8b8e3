"""Hyperparameter search on Ray Tune, one trial = one ``train.py`` run through :func:`{{ cookiecutter.package_name }}.cli.build`.

Ray is imported lazily inside the modules that need it, so ``python train.py`` never pays for it and a
project generated without tuning has no Ray import at all.
"""
