"""Compression over a trained run: prune, quantize, distill, and the comparison of variants."""
