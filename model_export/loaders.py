"""The one loader of each export format: ONNX, TorchScript, AOTInductor.

Each format is opened here and nowhere else: an ONNX Runtime session with its
execution providers and thread options (`onnx_session`), a TorchScript module
(`torchscript_module`), an AOTInductor package with the CUDA `.pt2` choice
(`aoti_package`). On top, `load_*` and `load_format` wrap a loaded file as a
function `(dense, values, offsets) -> scores`, numpy in, numpy out, so tests,
`--verify` and benchmarks treat every format alike; the service's runtimes
(service/runtimes) adapt the same loaded objects to serving.

torch and onnxruntime are imported only by the loader that needs them: the ONNX
path runs on a machine without torch. Every failure to load is an ArtifactError
with one clear line, never a protobuf or pickle traceback.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from model_export.errors import ArtifactError, IncompatibleArtifactError
from model_export.manifest import FORMATS, Manifest

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]
Scorer = Callable[[Floats, Ints, Ints], Floats]
IndexFn = Callable[[Ints, Ints], Ints]

ONNX_LOOKUPS = {"RobeLookup": "RobeSlots", "TableLookup": "TableRows"}
_CUDA = "CUDAExecutionProvider"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _check_file(path: Path) -> None:
    if not path.is_file():
        raise ArtifactError(f"{path}: no such model file")


def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime's execution providers for `device` (cpu or cuda)."""
    import onnxruntime as ort

    if device != "cuda":
        return ["CPUExecutionProvider"]
    if _CUDA not in ort.get_available_providers():
        raise ArtifactError(
            "device cuda: this onnxruntime has no CUDAExecutionProvider "
            "(install onnxruntime-gpu, or use --device cpu)"
        )
    return [_CUDA, "CPUExecutionProvider"]


def onnx_session(
    source: Path | bytes, *, device: str = "cpu", threads: int = 0, spinning: bool = True
) -> Any:
    """An ONNX Runtime session of a file (or a serialized model) on `device`.

    `threads` (0 = ONNX Runtime's choice) sets the intra-op pool, with one inter-op
    thread; `spinning=False` keeps the pool from busy-waiting between runs, which a
    server wants (its event loop needs the CPU between batches).
    """
    import onnxruntime as ort

    if isinstance(source, Path):
        _check_file(source)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = onnx_providers(device)
    model = str(source) if isinstance(source, Path) else source
    try:
        return ort.InferenceSession(model, options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own pybind types for bad files
        name = source if isinstance(source, Path) else "model"
        raise ArtifactError(f"{name}: not a loadable ONNX model ({_first_line(exc)})") from exc


def load_onnx(
    path: Path, *, device: str = "cpu", threads: int = 0, spinning: bool = True
) -> Scorer:
    """Load `model.onnx` as a scorer; `threads` and `spinning` as in `onnx_session`."""
    session = onnx_session(path, device=device, threads=threads, spinning=spinning)

    def score(dense: Floats, values: Ints, offsets: Ints) -> Floats:
        feeds = {"dense": dense, "values": values, "offsets": offsets}
        (out,) = session.run(["score"], feeds)
        return np.asarray(out, dtype=np.float32)

    return score


def onnx_index_model(path: Path) -> Any:
    """A model of the artifact's own index function: `(values, offsets) -> indices`.

    The lookup node of `model.onnx` is replaced by the function it calls for its hash
    (RobeSlots or TableRows), with the same attributes and the same function bodies,
    so the indices it returns are the ones the served model gathers.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf DecodeError and friends
        raise ArtifactError(f"{path}: not a loadable ONNX model ({_first_line(exc)})") from exc
    lookups = [n for n in model.graph.node if n.op_type in ONNX_LOOKUPS and n.domain == "ai.robe"]
    if len(lookups) != 1:
        raise ArtifactError(f"{path}: expected one ai.robe lookup node, found {len(lookups)}")
    lookup = lookups[0]
    inits = {t.name: t for t in model.graph.initializer}
    weight = inits[lookup.input[0]]
    if lookup.op_type == "RobeLookup":
        size = numpy_helper.from_array(np.array(int(np.prod(weight.dims)), np.int64), "size")
        inputs, extra, width = ["values", "offsets", "size"], [size], ["values", "chunks"]
    else:
        extra = [inits[name] for name in lookup.input[3:5]]
        inputs, width = ["values", "offsets", *lookup.input[3:5]], ["values"]
    node = helper.make_node(ONNX_LOOKUPS[lookup.op_type], inputs, ["indices"], domain="ai.robe")
    node.attribute.extend(lookup.attribute)
    graph = helper.make_graph(
        [node],
        "robe_indices",
        [helper.make_tensor_value_info(n, TensorProto.INT64, [n]) for n in ("values", "offsets")],
        [helper.make_tensor_value_info("indices", TensorProto.INT64, width)],
        initializer=extra,
    )
    return helper.make_model(
        graph,
        opset_imports=list(model.opset_import),
        functions=list(model.functions),
        ir_version=model.ir_version,
    )


def load_onnx_indices(path: Path, *, device: str = "cpu") -> IndexFn:
    session = onnx_session(onnx_index_model(path).SerializeToString(), device=device)

    def indices(values: Ints, offsets: Ints) -> Ints:
        (out,) = session.run(["indices"], {"values": values, "offsets": offsets})
        return np.asarray(out, dtype=np.int64)

    return indices


def _torch_scorer(module: Callable[..., Any], device: str) -> Scorer:
    import torch

    def score(dense: Floats, values: Ints, offsets: Ints) -> Floats:
        with torch.inference_mode():
            out = module(
                torch.from_numpy(dense).to(device),
                torch.from_numpy(values).to(device),
                torch.from_numpy(offsets).to(device),
            )
        return np.asarray(out.cpu().numpy(), dtype=np.float32)

    return score


def torchscript_module(
    source: Path | io.BytesIO, *, device: str = "cpu", import_ops: bool = True
) -> Any:
    """A TorchScript module in eval mode; its lookup needs `robe.ops` (imported unless told not)."""
    import torch

    from model_export.quiet import torch_notices_silenced

    if isinstance(source, Path):
        _check_file(source)
    if import_ops:
        import robe.ops  # noqa: F401  (registers torch.ops.robe, which the file calls)
    name = source if isinstance(source, Path) else "TorchScript buffer"
    try:
        with torch_notices_silenced():
            file = str(source) if isinstance(source, Path) else source
            module = torch.jit.load(file, map_location=device)  # type: ignore[no-untyped-call]
    except (RuntimeError, ValueError) as exc:
        if "robe::" in str(exc):
            raise ArtifactError(
                f"{name}: the model calls the torch custom op robe::lookup, which is not "
                "registered; `import robe.ops` (package robe-serve) before loading it"
            ) from exc
        raise ArtifactError(
            f"{name}: not a loadable TorchScript file ({_first_line(exc)})"
        ) from exc
    module.eval()
    return module


def load_torchscript(path: Path, *, device: str = "cpu", import_ops: bool = True) -> Scorer:
    """Load `model.torchscript.pt` as a scorer."""
    return _torch_scorer(torchscript_module(path, device=device, import_ops=import_ops), device)


def aoti_package(path: Path, *, entry: Mapping[str, Any] | None = None, device: str = "cpu") -> Any:
    """Load a `.pt2` package; with the manifest `entry`, refuse another platform or torch.

    On CUDA the entry's `cuda` package (`model.cuda.pt2`, beside `path`) is loaded
    instead; an entry without one is an IncompatibleArtifactError.
    """
    import torch

    from model_export.compat import platform_tag, torch_version

    if entry is not None and device == "cuda":
        cuda = entry.get("cuda")
        if not isinstance(cuda, Mapping) or "file" not in cuda:
            raise IncompatibleArtifactError(
                f"{path}: the artifact has no CUDA AOTInductor package (export it on a "
                "machine with CUDA)"
            )
        path = path.parent / str(cuda["file"])
    _check_file(path)
    if entry is not None:
        wanted = (entry.get("platform"), entry.get("torch"))
        here = (platform_tag(), torch_version())
        if wanted != here:
            raise IncompatibleArtifactError(
                f"{path}: compiled for {wanted[0]} with torch {wanted[1]}, but this runtime is "
                f"{here[0]} with torch {here[1]}; use another format of the artifact or "
                "export again here"
            )
    if not zipfile.is_zipfile(path):
        raise ArtifactError(f"{path}: not an AOTInductor package (not a zip archive)")
    try:
        return torch._inductor.aoti_load_package(str(path))
    except Exception as exc:  # the loader raises RuntimeError, zip and OS errors
        raise ArtifactError(
            f"{path}: not a loadable AOTInductor package ({_first_line(exc)})"
        ) from exc


def load_aoti(path: Path, *, entry: Mapping[str, Any] | None = None, device: str = "cpu") -> Scorer:
    """Load a `.pt2` package (see `aoti_package`) as a scorer."""
    return _torch_scorer(aoti_package(path, entry=entry, device=device), device)


def format_scorer(
    directory: Path,
    fmt: str,
    entry: Mapping[str, Any],
    *,
    device: str = "cpu",
    threads: int = 0,
    spinning: bool = True,
) -> Scorer:
    """The scorer of format `fmt` written to `directory`, described by its manifest `entry`.

    `threads` and `spinning` set ONNX Runtime's pool; the torch formats run on torch's
    threads (`torch.set_num_threads`), which the caller sets."""
    path = directory / str(entry["file"])
    if fmt == "onnx":
        return load_onnx(path, device=device, threads=threads, spinning=spinning)
    if fmt == "torchscript":
        return load_torchscript(path, device=device)
    if fmt == "aoti":
        return load_aoti(path, entry=entry, device=device)
    raise ArtifactError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")


def load_format(manifest: Manifest, fmt: str, *, device: str = "cpu") -> Scorer:
    """The scorer of `fmt` in an artifact (its files already checked by load_manifest)."""
    manifest.file_path(fmt)  # MissingFormatError when the artifact lacks it
    return format_scorer(manifest.directory, fmt, manifest.formats[fmt], device=device)
