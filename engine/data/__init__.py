"""Datasets: the bundled digits and the sources a project can name, with seeded splits."""

from .datasets import DataBundle, available_datasets, load_arrays, load_bundle
from .split import kfold_indices, stratified_split

__all__ = ["DataBundle", "available_datasets", "load_arrays", "load_bundle", "kfold_indices", "stratified_split"]
