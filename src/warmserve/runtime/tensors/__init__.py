"""Named typed tensors (the Open Inference Protocol v2) in the model process.

The HTTP worker sends tensors in their v2 binary form (``wire``, which also merges and
splits them for the batch layer); here they become the model's input as its signature
asks (``model_input``), the version's tensor metadata is decided once at load
(``metadata``), and outputs are written as that metadata says (``encode``), so the
metadata and every answer agree. Submodules are imported where used: the batch layer
needs only ``wire``.
"""
