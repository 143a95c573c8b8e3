"""DataModules: digits (default, offline), a folder of images per class, torchvision's classic sets, synthetic."""

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
