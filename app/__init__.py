"""The LayerLab studio: main window, controllers, runner bridge, settings, autosave/recovery."""
