"""The LLM ensemble through the real openai client against a scripted local server."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from adrs.evolve._candidate import Candidate
from adrs.evolve.config import GeneratorConfig, ModelConfig
from adrs.evolve.generators import OpenAIEnsemble, Proposal, ProposalContext
from adrs.evolve.prompts import PromptBuilder
from adrs.problems.toy import INITIAL_PROGRAM

from .conftest import Reply, ScriptedServer

PARENT = Candidate(1, INITIAL_PROGRAM, score=-0.42, feedback="mse 0.42")
DIFF = ("Move the threshold.\n<<<<<<< SEARCH\n    if x > 0.0:\n=======\n    if x > 0.7:\n"
        ">>>>>>> REPLACE\n")


def ensemble(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch, **overrides: Any
             ) -> OpenAIEnsemble:
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-local")
    models = overrides.pop("models", None) or (ModelConfig(
        "fake-model", base_url=server.base_url, api_key_env="FAKE_LLM_KEY",
        input_price=2.0, output_price=10.0, timeout_s=5.0),)
    config = GeneratorConfig(models=models, retries=overrides.pop("retries", 3),
                             backoff_s=0.01, backoff_max_s=2.0,
                             max_in_flight=overrides.pop("max_in_flight", 4))
    return OpenAIEnsemble(config, PromptBuilder("toy"))


def propose(generator: OpenAIEnsemble, seed: int = 0) -> Proposal:
    async def go() -> Proposal:
        try:
            return await generator.propose(PARENT, [], ProposalContext(seed=seed))
        finally:
            await generator.aclose()
    return asyncio.run(go())


def test_diff_reply_is_applied_and_accounted(server: ScriptedServer,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server.script.append(Reply(DIFF, prompt_tokens=1000, completion_tokens=200))
    proposal = propose(ensemble(server, monkeypatch))
    assert proposal.error is None
    assert "if x > 0.7:" in proposal.program and "if x > 0.0:" not in proposal.program
    assert proposal.generator == "fake-model"
    (call,) = proposal.calls
    assert (call.prompt_tokens, call.completion_tokens, call.error) == (1000, 200, None)
    assert call.cost_usd == pytest.approx((1000 * 2.0 + 200 * 10.0) / 1e6)
    request = server.requests[0]
    assert request["model"] == "fake-model"
    assert request["messages"][0]["role"] == "system"
    assert "score -0.42" in request["messages"][1]["content"]


def test_full_rewrite(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    new = INITIAL_PROGRAM.replace("0.0:", "0.5:")
    server.script.append(Reply(f"Here:\n```python\n{new}```\n"))
    proposal = propose(ensemble(server, monkeypatch))
    assert proposal.program == new


def test_rate_limit_waits_for_retry_after(server: ScriptedServer,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    server.script.extend([Reply(status=429, headers={"Retry-After": "0.3"}), Reply(DIFF)])
    started = time.monotonic()
    proposal = propose(ensemble(server, monkeypatch))
    assert time.monotonic() - started >= 0.3  # the server asked for it
    assert proposal.error is None
    first, second = proposal.calls
    assert "RateLimitError (429)" in first.error and second.error is None
    assert (first.attempt, second.attempt) == (0, 1)


def test_server_error_and_timeout_are_retried(server: ScriptedServer,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    models = (ModelConfig("slow", base_url=server.base_url, api_key_env="FAKE_LLM_KEY",
                          timeout_s=0.5),)
    server.script.extend([Reply(status=500), Reply(DIFF, delay=3.0), Reply(DIFF)])
    proposal = propose(ensemble(server, monkeypatch, models=models))
    assert proposal.error is None
    errors = [call.error for call in proposal.calls]
    assert "InternalServerError (500)" in errors[0]
    assert "APITimeoutError" in errors[1]
    assert errors[2] is None


def test_retries_run_out(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    server.fallback = lambda body: Reply(status=503)
    proposal = propose(ensemble(server, monkeypatch, retries=2))
    assert proposal.program is None
    assert proposal.error.startswith("model fake-model failed: InternalServerError (503)")
    assert len(proposal.calls) == 3


def test_client_errors_are_not_retried(server: ScriptedServer,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    server.fallback = lambda body: Reply(status=401)
    proposal = propose(ensemble(server, monkeypatch))
    assert len(proposal.calls) == 1 and "AuthenticationError (401)" in proposal.error


@pytest.mark.parametrize(("content", "message"), [
    ("<<<<<<< SEARCH\n    if x > 0.0:\n>>>>>>> REPLACE\n", "no '=======' divider"),
    ("<<<<<<< SEARCH\n    if y > 9:\n=======\n    pass\n>>>>>>> REPLACE\n",
     "SEARCH block 1 of 1 (line 1 of the reply) does not match"),
    ("I would change the threshold.", "neither SEARCH/REPLACE blocks nor"),
    ("", "empty reply"),
])
def test_unusable_replies_explain_why(server: ScriptedServer, monkeypatch: pytest.MonkeyPatch,
                                      content: str, message: str) -> None:
    server.script.append(Reply(content))
    proposal = propose(ensemble(server, monkeypatch, retries=0))
    assert proposal.program is None and message in proposal.error
    assert len(proposal.calls) == 1 and proposal.calls[0].prompt_tokens == 100


def test_weighted_models_and_requests_in_flight(server: ScriptedServer,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(body: dict[str, Any]) -> Reply:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.3)
        with lock:
            active["now"] -= 1
        return Reply(DIFF)

    server.fallback = slow
    models = tuple(ModelConfig(name, base_url=server.base_url, api_key_env="FAKE_LLM_KEY",
                               weight=weight) for name, weight in (("rare", 1.0),
                                                                   ("common", 9.0)))
    generator = ensemble(server, monkeypatch, models=models, max_in_flight=3)

    async def many() -> list[Proposal]:
        try:
            return await asyncio.gather(*(generator.propose(PARENT, [], ProposalContext(seed=s))
                                          for s in range(12)))
        finally:
            await generator.aclose()

    proposals = asyncio.run(many())
    assert all(p.error is None for p in proposals)
    names = [p.generator for p in proposals]
    assert names.count("common") > names.count("rare")
    assert 2 <= active["max"] <= 3


def test_missing_key_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    config = GeneratorConfig(models=(ModelConfig("m", api_key_env="NOT_SET_ANYWHERE"),))
    with pytest.raises(ValueError, match="NOT_SET_ANYWHERE"):
        OpenAIEnsemble(config, PromptBuilder("toy"))
