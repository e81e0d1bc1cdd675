"""Turn a training checkpoint into a served artifact: ONNX, TorchScript, AOTInductor.

`model_export.manifest` and `model_export.errors` import without torch, so the
ONNX serving path can read artifacts on a machine that has no torch installed.
"""
