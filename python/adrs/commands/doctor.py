"""``adrs doctor``: which layers of the jail this machine gives a candidate, and why any
is missing."""

from __future__ import annotations

import argparse
import os
import sys
import time

from adrs.commands import Output


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--isolation", choices=("auto", "require", "none"), default="auto",
                        help="the isolation mode to check (default: auto, as adrs run)")


def run(args: argparse.Namespace) -> Output:
    from adrs.jail import LAYERS, Jail, JailError, JailLimits, _rootfs
    from adrs.jail._script import TASK

    started = time.perf_counter()
    limits = JailLimits()
    try:
        with Jail(TASK, limits, args.isolation) as jail:
            layers = jail.layers
            mode = jail.mode
            with jail.open("def main():\n    return 1\n", "probe.py") as session:
                answered = session.call("call").header.get("value") == 1
    except JailError as exc:
        raise ValueError(str(exc)) from None
    view = _rootfs.plan() if mode != "none" else None
    data = {
        "isolated": layers.isolated, "mode": mode, "answered": answered,
        "layers": layers.to_json(), "uid": os.geteuid(),
        "jail_uid": limits.jail_uid if os.geteuid() == 0 else None,
        "visible": list(_rootfs.describe(view)) if view else [],
        "python": sys.executable, "seconds": round(time.perf_counter() - started, 3),
    }
    lines = [(f"jail mode: {mode} ({'isolated' if layers.isolated else 'NOT ISOLATED'}); "
              f"a probe candidate {'answered' if answered else 'did not answer'} in "
              f"{data['seconds']:.2f} s")]
    for layer in layers.layers:
        state = "active " if layer.active else "MISSING"
        lines.append(f"  {state} {layer.name:<17} {layer.detail}")
        if not layer.active:
            lines.append(f"          {'':<17} ({LAYERS[layer.name]})")
    if view:
        lines.append("read-only in the jail: " + ", ".join(data["visible"]))
    if not layers.isolated:
        lines.append("adrs run refuses model-generated candidates here unless "
                     "--unsafe-no-sandbox is given.")
    return Output("\n".join(lines), data, 0 if layers.isolated else 1)
