"""An ensemble of OpenAI-compatible chat models as a generator.

Each proposal draws one model by weight, sends the prompt to its chat-completions
endpoint (OpenAI, vLLM, Ollama, Gemini's compatible API...), and turns the reply into a
program (SEARCH/REPLACE blocks or a fenced full program). ``https`` and proxied endpoints
are reached through ``openai.AsyncOpenAI``; plain ``http`` ones (a local server) through
:class:`~adrs.evolve.generators._http.JSONClient`, about a millisecond less per request. Rate limits (429), server errors (5xx), timeouts and connection errors
are retried with exponential backoff; every attempt, failed or not, is returned as an
:class:`LLMCall` with its tokens and cost so that the database accounts for it.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Sequence
from typing import Any

import openai

from adrs.evolve._candidate import Candidate
from adrs.evolve.config import GeneratorConfig, ModelConfig
from adrs.evolve.generators._base import LLMCall, Proposal, ProposalContext
from adrs.evolve.generators._http import HTTPFailure, JSONClient, serves
from adrs.evolve.generators.diffs import DiffError, program_from_reply
from adrs.evolve.prompts import PromptBuilder


class OpenAIEnsemble:
    """Weighted models behind one ``propose``.

    Args:
        config: Models, concurrency, retries and backoff.
        prompts: Builds the messages of each request.

    Raises:
        ValueError: No model, or a model whose ``api_key_env`` variable is not set.
    """

    name = "llm"

    def __init__(self, config: GeneratorConfig, prompts: PromptBuilder) -> None:
        if not config.models:
            raise ValueError("the LLM ensemble needs at least one model (generator.models)")
        self.config = config
        self.prompts = prompts
        self.models = list(config.models)
        self._weights = [m.weight for m in self.models]
        self._clients: dict[int, openai.AsyncOpenAI | JSONClient] = {}
        self._keys = {i: _key(m) for i, m in enumerate(self.models)}
        self._limit = asyncio.Semaphore(config.max_in_flight or 8)

    def _client(self, index: int) -> openai.AsyncOpenAI | JSONClient:
        # created lazily inside the running event loop (httpx binds to it)
        if index not in self._clients:
            model = self.models[index]
            base_url = model.base_url or os.environ.get("OPENAI_BASE_URL") or ""
            if serves(base_url):
                self._clients[index] = JSONClient(base_url, self._keys[index], model.timeout_s)
            else:
                self._clients[index] = openai.AsyncOpenAI(
                    api_key=self._keys[index], base_url=model.base_url,
                    timeout=model.timeout_s,
                    max_retries=0)  # retries are ours, so that each attempt is accounted
        return self._clients[index]

    async def _post(self, index: int, body: dict[str, Any]) -> Any:
        client = self._client(index)
        if isinstance(client, JSONClient):
            return await client.post("/chat/completions", body)
        # the SDK's plain POST: the same errors, retries and headers as
        # chat.completions.create, without its parameter transform and response models
        return await client.post("/chat/completions", cast_to=dict, body=body)

    async def aclose(self) -> None:
        """Close every HTTP client."""
        for client in self._clients.values():
            if isinstance(client, JSONClient):
                await client.aclose()
            else:
                await client.close()
        self._clients.clear()

    async def check(self) -> tuple[list[str], list[LLMCall]]:
        """Ask every model for one token, once, before a run starts.

        Returns:
            A line for each model that did not answer (``model 'x' at URL: reason``), and
            the calls made (for the run's accounting).
        """
        problems: list[str] = []
        calls: list[LLMCall] = []
        rng = random.Random(0)
        for index, model in enumerate(self.models):
            # retried like any request: a rate limit at start is no reason not to start
            _, made = await self._complete(
                index, [{"role": "user", "content": "Reply with OK."}], rng, max_tokens=1)
            calls += made
            if made and made[-1].error is not None and made[-1].error != "empty reply":
                problems.append(f"{endpoint(model)}: {reason_of(made[-1].error)}")
        return problems, calls

    async def propose(self, parent: Candidate, inspirations: Sequence[Candidate],
                      context: ProposalContext) -> Proposal:
        """See :class:`adrs.evolve.generators.Generator`."""
        started = time.perf_counter()
        rng = random.Random(context.seed)
        index = rng.choices(range(len(self.models)), self._weights)[0]
        model = self.models[index]
        messages = self.prompts.messages(parent, inspirations, context)
        async with self._limit:
            reply, calls = await self._complete(index, messages, rng)
        meta: dict[str, Any] = {"model": model.name}
        if reply is None:
            error = calls[-1].error if calls else "no request made"
            return Proposal(None, generator=model.name, calls=calls, meta=meta,
                            error=f"model {model.name} failed: {error}",
                            seconds=time.perf_counter() - started)
        meta["reply"] = reply
        try:
            program, diff = program_from_reply(reply, parent.program)
        except DiffError as exc:
            return Proposal(None, diff=reply, generator=model.name, calls=calls, meta=meta,
                            error=str(exc), seconds=time.perf_counter() - started)
        return Proposal(program, diff=diff, generator=model.name, calls=calls, meta=meta,
                        seconds=time.perf_counter() - started)

    async def _complete(self, index: int, messages: list[dict[str, str]],
                        rng: random.Random, **overrides: Any
                        ) -> tuple[str | None, list[LLMCall]]:
        model = self.models[index]
        calls: list[LLMCall] = []
        for attempt in range(self.config.retries + 1):
            began, clock = time.time(), time.perf_counter()
            try:
                response = await self._post(index, {
                    "model": model.name, "messages": messages, **_sampling(model),
                    **overrides})
            except (openai.OpenAIError, HTTPFailure) as exc:
                calls.append(LLMCall(model.name, attempt, began, time.perf_counter() - clock,
                                     error=_describe(exc)))
                # rate limits, server errors, timeouts and lost connections are retried;
                # 400, 401, 404...: retrying will not help
                if not _retryable(exc) or attempt == self.config.retries:
                    break
                await asyncio.sleep(self._delay(attempt, exc, rng))
                continue
            usage = response.get("usage") if isinstance(response, dict) else None
            usage = usage if isinstance(usage, dict) else {}
            prompt_tokens = _count(usage.get("prompt_tokens"))
            completion_tokens = _count(usage.get("completion_tokens"))
            cost = (prompt_tokens * model.input_price
                    + completion_tokens * model.output_price) / 1e6
            text = _reply_text(response)
            calls.append(LLMCall(model.name, attempt, began, time.perf_counter() - clock,
                                 prompt_tokens, completion_tokens, cost,
                                 error=None if text is not None else "empty reply"))
            return text, calls
        return None, calls

    def _delay(self, attempt: int, exc: Exception, rng: random.Random) -> float:
        delay = self.config.backoff_s * (2 ** attempt) * (0.75 + 0.5 * rng.random())
        asked = _retry_after(exc)
        if asked is not None:
            delay = max(delay, asked)
        return min(delay, self.config.backoff_max_s)


def endpoint(model: ModelConfig) -> str:
    """``model 'x' at URL``, as messages name a model."""
    return f"model {model.name!r} at {model.base_url or 'https://api.openai.com/v1'}"


def reason_of(error: str) -> str:
    """A call's error without the client's exception name: ``connection refused``,
    ``HTTP 500: ...``."""
    kind, _, rest = error.partition(": ")
    if kind.endswith(")") and "(" in kind:  # "InternalServerError (500)"
        status = kind[kind.rindex("(") + 1:-1]
        return f"HTTP {status}: {rest}" if rest else f"HTTP {status}"
    return rest or error


def _key(model: ModelConfig) -> str:
    if model.api_key_env is None:
        return "none"  # local endpoints ignore it; the client insists on a value
    value = os.environ.get(model.api_key_env)
    if not value:
        raise ValueError(f"model {model.name!r}: environment variable "
                         f"{model.api_key_env} (api_key_env) is not set; set it, or run "
                         "with --offline (the offline mutator, no model)")
    return value


def _sampling(model: ModelConfig) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if model.temperature is not None:
        options["temperature"] = model.temperature
    if model.max_tokens is not None:
        options["max_tokens"] = model.max_tokens
    return options


def _count(value: Any) -> int:
    """A token count of a reply (untrusted JSON): 0 unless a non-negative integer."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 \
        else 0


def _reply_text(response: Any) -> str | None:
    """The first choice's message text of a chat-completions reply (JSON), or None."""
    choices = response.get("choices") if isinstance(response, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    return content if isinstance(content, str) and content else None


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, HTTPFailure):
        return exc.retryable
    return isinstance(exc, (openai.RateLimitError, openai.InternalServerError,
                            openai.APITimeoutError, openai.APIConnectionError))


def _retry_after(exc: Exception) -> float | None:
    if isinstance(exc, HTTPFailure):
        return getattr(exc, "retry_after", None)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    kind = exc.kind if isinstance(exc, HTTPFailure) else type(exc).__name__
    message = " ".join(str(exc).split())[:300]
    if kind == "APIConnectionError":
        reason = _root_cause(exc)
        if reason:
            return f"{kind}: {reason}"
    return f"{kind} ({status}): {message}" if status else f"{kind}: {message}"


_REASONS = ((ConnectionRefusedError, "connection refused"),
            (ConnectionResetError, "connection reset"),
            (TimeoutError, "connection timed out"))


def _root_cause(exc: BaseException) -> str:
    """What went wrong under the client's "Connection error.": "connection refused",
    "name or service not known"..."""
    seen = set()
    while exc.__cause__ is not None or exc.__context__ is not None:
        if id(exc) in seen:
            break
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    for kind, reason in _REASONS:
        if isinstance(exc, kind):
            return reason
    text = " ".join(str(exc).split())
    return text.split("] ", 1)[-1][:200] if text else type(exc).__name__
