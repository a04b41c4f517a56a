"""The search loop: database, selector, prompts, generators, executor, controller.

Public names are imported on first use, so that an evaluation worker (which needs only
the sandbox and the problem) does not pay for importing the model client.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "Candidate": "adrs.evolve._candidate",
    "RunConfig": "adrs.evolve.config",
    "load_config": "adrs.evolve.config",
    "config_from_mapping": "adrs.evolve.config",
    "config_to_mapping": "adrs.evolve.config",
    "Database": "adrs.evolve.database",
    "GridArchive": "adrs.evolve.archive",
    "Dimension": "adrs.evolve.archive",
    "IslandModel": "adrs.evolve.islands",
    "Selection": "adrs.evolve.islands",
    "PromptBuilder": "adrs.evolve.prompts",
    "Generator": "adrs.evolve.generators",
    "Proposal": "adrs.evolve.generators",
    "ProposalContext": "adrs.evolve.generators",
    "LLMCall": "adrs.evolve.generators",
    "OfflineMutator": "adrs.evolve.generators",
    "OpenAIEnsemble": "adrs.evolve.generators",
    "DiffError": "adrs.evolve.generators",
    "Executor": "adrs.evolve.executor",
    "LocalExecutor": "adrs.evolve.executor",
    "EvalJob": "adrs.evolve.executor",
    "EvalOutcome": "adrs.evolve.executor",
    "ProblemSpec": "adrs.evolve.executor",
    "Controller": "adrs.evolve.controller",
    "RunSummary": "adrs.evolve.controller",
    "FolderProblem": "adrs.evolve.folder_problem",
}

__all__ = [
    "Candidate",
    "Controller",
    "Database",
    "DiffError",
    "Dimension",
    "EvalJob",
    "EvalOutcome",
    "Executor",
    "FolderProblem",
    "Generator",
    "GridArchive",
    "IslandModel",
    "LLMCall",
    "LocalExecutor",
    "OfflineMutator",
    "OpenAIEnsemble",
    "ProblemSpec",
    "PromptBuilder",
    "Proposal",
    "ProposalContext",
    "RunConfig",
    "RunSummary",
    "SandboxLimits",
    "SandboxResult",
    "Selection",
    "config_from_mapping",
    "config_to_mapping",
    "load_config",
    "run_sandboxed",
]


def __getattr__(name: str) -> Any:
    try:
        module = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'adrs.evolve' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
