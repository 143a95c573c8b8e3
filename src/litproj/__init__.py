"""litproj: a PyTorch Lightning project template.

What you edit first sits in front: ``module.py`` (the example LightningModule), ``data/`` (DataModules)
and ``nets/`` (plain networks). The machinery lives in named packages behind them, each of which says
in its docstring what a fork may delete:

* ``cli/``: the command line, the single build path, run summary and predictions (the top floor);
* ``strategies/``: ``--strategy`` presets and what Lightning lacks for them (FSDP2 on CPU, model split);
* ``reliability/``: checkpoints, checkpoint checks, preemption, NaN-loss stop, DDP timeouts;
* ``tracking/``: loggers, tracker runs, hyperparameters and figures;
* ``troubleshoot/``: OOM recovery, finders, leak detector, memory monitor, doctor;
* ``tune/``: hyperparameter search on Ray Tune.

``errors.py`` (one-line messages) and ``rundir.py`` (run and config folders) are the ground floor every
package stands on.
"""
