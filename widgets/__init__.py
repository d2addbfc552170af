"""Qt widgets for LayerLab, each usable and testable on its own (never imports ``app``)."""
