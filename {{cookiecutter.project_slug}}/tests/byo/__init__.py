"""Bring-your-own modules: LightningModules and DataModules written the way Lightning's docs write them.

Nothing here imports {{ cookiecutter.package_name }}. Tests plug these classes into ``train.py`` by ``class_path`` (``--model
tests.byo.models.DictModel``) to prove every {{ cookiecutter.package_name }} feature works on code a team brings, or refuses
before training in one line.
"""
