"""litproj: a PyTorch Lightning project template.

Edit first what sits in front: ``module.py`` (the example LightningModule), ``data/`` and ``nets/``. The
machinery lives behind them in ``cli/`` (the top floor), ``strategies/``, ``reliability/``, ``tracking/``,
``troubleshoot/`` and ``tune/``, each saying in its docstring what a fork may delete; ``errors.py`` and
``rundir.py`` are the ground floor every package stands on.
"""
