"""`robe export`: a training run into a served artifact (the model_export package)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

DEFAULT_FORMATS = "onnx,torchscript,aoti"


def register(sub: Any) -> None:
    parser = sub.add_parser("export", help="export a checkpoint to ONNX, TorchScript, AOTInductor")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        required=True,
        help="a training run (RUN) or its RUN/checkpoint folder",
    )
    parser.add_argument("--out", type=Path, required=True, help="artifact folder to write")
    parser.add_argument(
        "--formats",
        default=DEFAULT_FORMATS,
        help=f"comma-separated formats (default: {DEFAULT_FORMATS})",
    )
    parser.add_argument(
        "--verify",
        action="store_true",
        help="score the same rows through eager and every format; fail on a mismatch",
    )
    parser.add_argument(
        "--precision",
        default="fp32",
        help="comma-separated precisions to carry: fp32 (always), int8, bf16 (torch formats), "
        "fp16 (recorded as unavailable where a format lacks it; docs/export.md)",
    )
    parser.add_argument(
        "--verify-data",
        type=Path,
        default=None,
        help="labelled rows for --verify's accuracy guard (default: the run's validation split)",
    )
    parser.add_argument(
        "--verify-rows",
        type=int,
        default=10_000,
        help="rows scored by --verify (default: 10000, the minimum)",
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        default=None,
        help="item catalog (default: items.jsonl beside the training data)",
    )
    parser.add_argument("--name", default=None, help="model name (default: the --out folder name)")
    parser.add_argument(
        "--force", action="store_true", help="replace an existing artifact at --out"
    )
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from model_export.artifact import ExportRequest, export_artifact, parse_formats
    from model_export.precision import FP32, parse_precisions
    from model_export.verify import MIN_ROWS, VerifySettings

    if args.verify_data is not None and not args.verify:
        raise ValueError("--verify-data is read by --verify: add --verify")
    if args.verify_rows < MIN_ROWS:
        raise ValueError(f"--verify-rows {args.verify_rows} is below the minimum {MIN_ROWS}")
    request = ExportRequest(
        checkpoint=args.checkpoint,
        out=args.out,
        formats=parse_formats(args.formats),
        precisions=tuple(dict.fromkeys((FP32, *parse_precisions(args.precision)))),
        verify_data=args.verify_data,
        verify=VerifySettings(rows=args.verify_rows) if args.verify else None,
        catalog=args.catalog,
        name=args.name,
        force=args.force,
    )
    manifest = export_artifact(request)
    summary = {
        "artifact": str(manifest.directory),
        "name": manifest.name,
        "version": manifest.version,
        "files": {rel: (manifest.directory / rel).stat().st_size for rel in manifest.files},
        "verify": manifest.verify,
    }
    print(json.dumps(summary, indent=2))
    return 0
