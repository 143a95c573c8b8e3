"""DataModules: digits (default, offline), a folder of images per class, torchvision's classic sets, synthetic.

The example data: once your own DataModule is the default (docs/own_project.md), delete the ones you do not use.
"""

from litproj.data.base import ClassificationDataModule
from litproj.data.digits import DigitsDataModule
from litproj.data.image_folder import ImageFolderDataModule
from litproj.data.synthetic import SyntheticDataModule
from litproj.data.torchvision_sets import TorchvisionDataModule

__all__ = [
    "ClassificationDataModule",
    "DigitsDataModule",
    "ImageFolderDataModule",
    "SyntheticDataModule",
    "TorchvisionDataModule",
]
