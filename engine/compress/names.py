"""The compress/export verbs' choices, in a module that imports nothing heavy.

``layerlab --help`` and ``layerlab check`` build every verb's parser; reading the choices from
here (not from ``prune``, ``quantize`` or ``engine.export``, which import torch) keeps building
the parser free of torch. The modules that do the work import their names from here.
"""

PRUNE_METHODS = ("l1", "global", "structured")
QUANT_METHODS = ("static-int8", "dynamic-int8", "fp16", "bf16")
EXPORT_FORMATS = ("onnx", "safetensors", "state-dict", "pt2", "python")
DISTILL_AUGMENTS = ("teacher", "shift")  # the student's training images: as the teacher's, or also shifted
