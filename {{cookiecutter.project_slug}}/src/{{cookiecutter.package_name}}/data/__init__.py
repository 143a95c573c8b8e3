"""DataModules: digits (default, offline), a folder of images per class, torchvision's classic sets, synthetic.

The example data: once your own DataModule is the default (docs/own_project.md), delete the ones you do not use.
"""

from {{ cookiecutter.package_name }}.data.base import ClassificationDataModule
from {{ cookiecutter.package_name }}.data.digits import DigitsDataModule
from {{ cookiecutter.package_name }}.data.image_folder import ImageFolderDataModule
from {{ cookiecutter.package_name }}.data.synthetic import SyntheticDataModule
from {{ cookiecutter.package_name }}.data.torchvision_sets import TorchvisionDataModule

__all__ = [
    "ClassificationDataModule",
    "DigitsDataModule",
    "ImageFolderDataModule",
    "SyntheticDataModule",
    "TorchvisionDataModule",
]
