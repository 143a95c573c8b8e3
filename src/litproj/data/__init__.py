"""DataModules: digits (default, offline), a folder of images per class, torchvision's classic sets."""

from litproj.data.base import ClassificationDataModule
from litproj.data.digits import DigitsDataModule
from litproj.data.image_folder import ImageFolderDataModule
from litproj.data.torchvision_sets import TorchvisionDataModule

__all__ = ["ClassificationDataModule", "DigitsDataModule", "ImageFolderDataModule", "TorchvisionDataModule"]
