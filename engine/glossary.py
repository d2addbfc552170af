"""Every metric and term the studio and the CLI show, explained for learners, as data.

One table for the studio's Help > Glossary, its plot and legend tooltips, and ``layerlab glossary``.
Metric names with a ``val_``/``train_`` prefix are explained by their base entry
(``val_f1`` -> ``f1``, "on the validation set"), so a new trainer metric needs one entry here.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Term:
    name: str  # the key as it appears on screen (``d_gz``)
    title: str  # a readable name ("D(G(z))")
    text: str  # what it means and how to read it
    good: str = ""  # which way is better, when it has one ("lower", "higher", "near 0.5")
    category: str = "metric"  # metric | model | training | data | gan | vae


_T = Term
TERMS: dict[str, Term] = {t.name: t for t in (
    # -- losses and supervised metrics
    _T("loss", "Loss", "The number the optimizer makes smaller: how wrong the model is on the current batch. "
       "It jumps from batch to batch; watch its trend, not single points.", "lower"),
    _T("train_loss", "Training loss", "The loss averaged over one epoch of training batches.", "lower"),
    _T("val_loss", "Validation loss", "The loss on data the model never trains on. When it rises while the training "
       "loss keeps falling, the model is overfitting (memorising instead of learning).", "lower"),
    _T("accuracy", "Accuracy", "The share of samples whose predicted class is the true class (0 to 1). Misleading "
       "when one class dominates the data.", "higher"),
    _T("precision", "Precision", "Of the samples predicted as a class, the share that really are (macro: averaged "
       "over classes).", "higher"),
    _T("recall", "Recall", "Of the samples of a class, the share the model finds (macro: averaged over classes).",
       "higher"),
    _T("f1", "F1 score", "The harmonic mean of precision and recall (0 to 1); macro F1 averages it over classes, so "
       "a class the model ignores pulls it down even when accuracy looks fine.", "higher"),
    _T("mse", "Mean squared error", "Regression: the average of (prediction - target)²; punishes big misses most.",
       "lower"),
    _T("mae", "Mean absolute error", "Regression: the average distance between prediction and target, in the "
       "target's own units.", "lower"),
    _T("r2", "R²", "Regression: how much of the target's variation the model explains (1 is perfect, 0 is no better "
       "than always predicting the mean).", "higher"),
    # -- GAN
    _T("d_loss", "Discriminator loss", "GAN: how badly the discriminator tells real images from generated ones. "
       "Near 0 for long means it wins too easily and the generator stops learning.", "balanced", "gan"),
    _T("g_loss", "Generator loss", "GAN: how badly the generator fools the discriminator. GAN losses do not fall "
       "steadily like a classifier's; a tug of war that stays bounded is healthy.", "balanced", "gan"),
    _T("d_x", "D(x)", "GAN: the discriminator's average 'real' score for real images (0 to 1). Healthy training "
       "keeps it well below 1; stuck at 1 means the discriminator overpowers the generator.", "near 0.5-0.8", "gan"),
    _T("d_gz", "D(G(z))", "GAN: the discriminator's average 'real' score for generated images G(z), z being random "
       "noise. It rises as the generator improves; near 0 means the generator is losing.", "near 0.3-0.5", "gan"),
    _T("fd_pca", "Fréchet distance (PCA)", "GAN: how far the generated images' statistics are from the real ones' "
       "(a Fréchet distance between Gaussians fitted in a PCA space of the images; like FID without an Inception "
       "network). The best checkpoint of a GAN is the one with the lowest fd_pca.", "lower", "gan"),
    _T("latent", "Latent vector z", "The random numbers a generator or decoder turns into an image; nearby z give "
       "similar images.", "", "gan"),
    _T("mode_collapse", "Mode collapse", "GAN: the generator makes only a few kinds of image whatever z is. The "
       "sample grid shows many near-identical tiles.", "", "gan"),
    # -- VAE
    _T("recon", "Reconstruction loss", "VAE: how far the decoded image is from the input (BCE or MSE per image).",
       "lower", "vae"),
    _T("kl", "KL divergence", "VAE: how far the encoder's distribution is from the standard normal prior "
       "(Kullback-Leibler divergence). Keeps the latent space smooth so random z decode to plausible images; "
       "beta weighs it against recon.", "moderate", "vae"),
    _T("beta", "beta (β)", "VAE: the weight of KL in the loss. Larger gives smoother but blurrier samples.", "",
       "vae"),
    # -- training
    _T("lr", "Learning rate", "How big a step the optimizer takes along the gradient. Too big: the loss jumps or "
       "becomes NaN; too small: it creeps. The Learning rate plot shows its schedule (log scale).", "", "training"),
    _T("epoch", "Epoch", "One pass of training over the whole training set.", "", "training"),
    _T("step", "Step", "One optimizer update, from one batch.", "", "training"),
    _T("batch_size", "Batch size", "How many samples go into one step. Bigger batches give smoother gradients and "
       "use more memory.", "", "training"),
    _T("samples_per_sec", "Samples per second", "Training speed: samples processed per second of training.",
       "higher", "training"),
    _T("train_steps_per_s", "Steps per second", "Training speed: optimizer steps per second of training time.",
       "higher", "training"),
    _T("eta", "ETA", "Estimated time until the run finishes, from the recent speed.", "", "training"),
    _T("checkpoint", "Checkpoint", "A file with the model's weights and the training state. last.pt is the latest; "
       "best.pt is the epoch with the best monitored metric (val_loss, or fd_pca for a GAN); either can be resumed.",
       "", "training"),
    _T("overfitting", "Overfitting", "The model learns the training set by heart: training loss falls while "
       "validation loss rises. More data, augmentation, dropout or early stopping help.", "", "training"),
    _T("early_stopping", "Early stopping", "Stop when the monitored metric has not improved for 'patience' epochs, "
       "optionally restoring the best weights.", "", "training"),
    _T("amp", "Mixed precision (AMP)", "Compute in 16-bit floats where safe: faster on GPUs, same results within "
       "rounding.", "", "training"),
    # -- model
    _T("params", "Parameters", "The learnable numbers (weights and biases) of the model. More parameters can learn "
       "more and need more data and memory.", "", "model"),
    _T("macs", "MACs", "Multiply-accumulate operations for one sample: a measure of how much computing one "
       "prediction costs (one MAC = one multiply plus one add).", "lower is cheaper", "model"),
    _T("shape", "Shape", "The size of a tensor per sample, without the batch dimension: [channels, height, width] "
       "for images, [features] after Flatten.", "", "model"),
    _T("logits", "Logits", "The raw scores a classifier outputs, one per class, before softmax turns them into "
       "probabilities.", "", "model"),
    _T("flatten", "Flatten", "Turns an image-shaped tensor [C, H, W] into one long vector [C·H·W] so a Linear layer "
       "can read it.", "", "model"),
    # -- data
    _T("validation_set", "Validation set", "The part of the data held back from training (val_fraction) to measure "
       "how well the model generalises.", "", "data"),
    _T("augmentation", "Augmentation", "Random changes to training images (rotation, flips, crops) so the model sees "
       "more variety; never applied to validation data.", "", "data"),
)}

PREFIXES = {"val_": "on the validation set", "train_": "on the training set"}


def lookup(name: str) -> Term | None:
    """The entry for a name as shown (``val_f1``, ``d_gz``, ``MACs``); prefixed metrics fall back to
    their base entry with the set they were measured on."""
    key = name.strip()
    if key in TERMS:
        return TERMS[key]
    low = key.lower().replace(" ", "_").replace("-", "_")
    if low in TERMS:
        return TERMS[low]
    for prefix, where in PREFIXES.items():
        if low.startswith(prefix) and low[len(prefix):] in TERMS:
            base = TERMS[low[len(prefix):]]
            return Term(key, f"{base.title} ({where})", f"{base.text} Measured {where}.", base.good, base.category)
    for t in TERMS.values():
        if t.title.lower() == key.lower():
            return t
    return None


def tooltip(name: str) -> str:
    """Plain text for a tooltip: "D(G(z)): ... Better: near 0.3-0.5." ("" if unknown)."""
    t = lookup(name)
    if t is None:
        return ""
    head = t.title if t.title == name else f"{name} — {t.title}"
    return f"{head}: {t.text}" + (f" Better: {t.good}." if t.good else "")


def entries(category: str | None = None) -> list[Term]:
    return [t for t in TERMS.values() if category is None or t.category == category]


# -- the `layerlab glossary` verb -------------------------------------------------------------------

def add_glossary_arguments(s) -> None:
    s.add_argument("term", nargs="?", help="one term or metric name (val_f1, d_gz, MACs, ...); default: all")
    s.add_argument("--json", action="store_true", help="machine-readable output")


def cmd_glossary(args) -> int:
    if args.term:
        t = lookup(args.term)
        if t is None:
            import sys

            known = ", ".join(TERMS)
            print(f"layerlab: error: unknown term {args.term!r} (known: {known})", file=sys.stderr)
            return 2
        terms = [t]
    else:
        terms = entries()
    if args.json:
        print(json.dumps([asdict(t) for t in terms], indent=2, ensure_ascii=False))
        return 0
    for t in terms:
        print(f"{t.name:<18} {t.title}")
        print(f"{'':<18} {t.text}" + (f" Better: {t.good}." if t.good else ""))
    return 0
