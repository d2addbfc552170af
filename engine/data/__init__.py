"""Datasets: lazy sources (digits, torchvision, image folders, CSV tables), seeded splits, augmentation."""

from .datasets import DataBundle, available_datasets, load_arrays, load_bundle
from .sources import DatasetError, SampleInfo, Source, open_source
from .split import kfold_indices, split_indices, stratified_split

__all__ = ["DataBundle", "DatasetError", "SampleInfo", "Source", "available_datasets", "load_arrays", "load_bundle",
           "open_source", "kfold_indices", "split_indices", "stratified_split"]
