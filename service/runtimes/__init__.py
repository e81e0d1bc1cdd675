"""Model runtimes behind one interface (`service.runtimes.base.Runtime`).

ONNX Runtime needs no torch; the TorchScript, AOTInductor and eager runtimes import
torch lazily, inside their modules, which are imported only when chosen.
"""
