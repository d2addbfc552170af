"""Training: one loop, pluggable trainers (supervised, GAN, VAE), a runner that speaks in events."""

from __future__ import annotations


def make_trainer(project):
    """The trainer for ``project.train.task`` (imports lazily: torch only when training)."""
    task = project.train.task
    if task == "gan":
        from .gan import GanTrainer

        return GanTrainer(project)
    if task == "vae":
        from .vae import VaeTrainer

        return VaeTrainer(project)
    from .supervised import SupervisedTrainer

    return SupervisedTrainer(project)
