"""LayerLab's engine: pure Python + torch. Never imports Qt, ``app`` or ``widgets``."""

__version__ = "0.1.0"
