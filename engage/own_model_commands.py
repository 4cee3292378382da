"""`engage models register` and `engage models import`: a team's own model into the
registry (training/own_models.py), from a skops file or from MLflow."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from actors.errors import ModelError
from engage.settings import Settings
from engage.training_commands import registry_of
from training.own_models import OwnModel, checked, read_reference, read_skops, register_own
from training.registry import ModelRegistry, ModelVersion


def add_arguments(models_sub: Any) -> None:
    register = models_sub.add_parser(
        "register", help="a scikit-learn model of your own, from a skops file"
    )
    register.add_argument("name", help="what rules read it as: scores.<name>")
    register.add_argument("file", type=Path, help="the estimator, saved with skops.io.dump")
    register.add_argument(
        "--features",
        required=True,
        help="its feature view: customer, payment, or feature names, comma-separated, in "
        "the order it was fitted on",
    )
    _common(register)
    imported = models_sub.add_parser(
        "import", help="a scikit-learn model kept in MLflow (mlflow:/NAME@ALIAS)"
    )
    imported.add_argument("uri", help="mlflow:/NAME@ALIAS or mlflow:/NAME/VERSION")
    imported.add_argument("--name", help="the name in engage (default: MLflow's)")
    imported.add_argument(
        "--features", help="its feature view (default: the input names of its signature)"
    )
    imported.add_argument(
        "--tracking-uri",
        help="the MLflow store (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    imported.add_argument(
        "--allow-pickle",
        action="store_true",
        help="accept a model logged as pickle or cloudpickle (loading it runs its code)",
    )
    _common(imported)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--reference",
        type=Path,
        help="rows it was fitted on (parquet or CSV, the view's columns named): its "
        "training window, for `engage models drift`",
    )
    parser.add_argument(
        "--trust",
        action="append",
        default=[],
        metavar="TYPE",
        help="a type the artifact holds that engage does not trust by default (repeatable)",
    )
    parser.add_argument("--description", default="", help="what it predicts, for the listing")
    parser.add_argument("--promote", action="store_true", help="make it the champion at once")


def register_command(args: argparse.Namespace, settings: Settings) -> int:
    try:
        estimator = read_skops(args.name, args.file, args.trust)
        model = checked(args.name, estimator, args.features, args.trust)
        source = {"kind": "skops", "file": str(args.file.resolve())}
        return _register(args, settings, model, source)
    except ModelError as error:
        return _refused(error)


def import_command(args: argparse.Namespace, settings: Settings) -> int:
    from training.mlflow_import import fetch, parse

    try:
        name = args.name or parse(args.uri)[0]
        fetched = fetch(
            args.uri, args.tracking_uri, trusted_types=args.trust, allow_pickle=args.allow_pickle
        )
        view = args.features or (",".join(fetched.columns) if fetched.columns else None)
        if view is None:
            raise ModelError(
                name, "its signature names no input columns: say its view with --features"
            )
        model = checked(name, fetched.estimator, view, fetched.trusted_types)
        return _register(args, settings, model, fetched.source)
    except ModelError as error:
        return _refused(error)


def _register(
    args: argparse.Namespace, settings: Settings, model: OwnModel, source: dict[str, Any]
) -> int:
    reference = read_reference(args.reference, model.columns) if args.reference else None
    registry = registry_of(settings)
    meta = register_own(
        registry, model, reference=reference, source=source, description=args.description
    )
    print(_registered(meta, reference is not None))
    if args.promote:
        return _promote(registry, meta)
    print(f"  serve it: engage models promote {meta.name} {meta.version}")
    return 0


def _promote(registry: ModelRegistry, meta: ModelVersion) -> int:
    previous = registry.promote(meta.name, meta.version)
    before = f"v{previous}" if previous is not None else "none"
    print(f"{meta.name}: champion {before} -> v{meta.version}")
    return 0


def _registered(meta: ModelVersion, with_reference: bool) -> str:
    view = ", ".join(meta.features[:6]) + (", ..." if len(meta.features) > 6 else "")
    drift = "a training window for drift" if with_reference else "no training window"
    return (
        f"{meta.name} v{meta.version}: {len(meta.features)} features ({view}); {drift}; "
        f"rules read it as scores.{meta.name}"
    )


def _refused(error: ModelError) -> int:
    print(f"refused: {error.model}: {error.reason}", file=sys.stderr)
    return 1
