"""The Designer view: palette | canvas tabs | inspector, code, layer table and undo history."""

from .view import DesignerView

__all__ = ["DesignerView"]
