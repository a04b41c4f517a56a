"""A minimal handler: load a program, call one of its functions with plain data.

Used by ``adrs doctor``, the jail's benchmark (an empty candidate) and the jail's own
tests; problems have handlers of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


from adrs.jail._jail import JailTask
from adrs.jail.handler import Handler, call_candidate, entry_point, load_module

TASK = JailTask("adrs.jail._script:ScriptHandler", "script")


class ScriptHandler(Handler):
    """``call {function, args}`` -> ``{value}``: the function's result as JSON data."""

    def __init__(self, prepared: Any, program: str, filename: str) -> None:
        super().__init__(prepared, program, filename)
        self.module = load_module(program, filename)

    def handle(self, op: str, header: Mapping[str, Any],
               arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, Any], dict]:
        if op != "call":
            return super().handle(op, header, arrays)
        name = str(header.get("function", "main"))
        function = entry_point(self.module, name, f"{self.filename} defines no function {name}()")
        value = call_candidate(function, *header.get("args", []), what=f"{name}()",
                               filename=self.filename)
        return {"value": value}, {}
