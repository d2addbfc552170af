"""The designer canvas: scene, items, gestures, view and overview (Qt; reads engine types only)."""

from .items import BadgeItem, EdgeItem, NodeItem, PortItem, key_params_text, shape_text
from .scene import BLOCK_MIME, FRAGMENT_MIME, LAYER_MIME, GraphScene, edge_triples
from .view import CanvasView, Overview

__all__ = [
    "BLOCK_MIME", "FRAGMENT_MIME", "LAYER_MIME", "BadgeItem", "CanvasView", "EdgeItem", "GraphScene", "NodeItem",
    "Overview", "PortItem", "edge_triples", "key_params_text", "shape_text",
]
