"""Hyperparameter search on Ray Tune, one trial = one ``train.py`` run through :func:`litproj.cli.build`.

Ray is imported lazily where needed, so ``python train.py`` never pays for it. Nothing else imports this
package: a fork may delete it with ``tune.py`` and ``configs/tune/``.
"""
