"""Turn report data into one self-contained HTML page.

Plotly (the plots) and the data are gzipped and base64-inlined: the page needs no
network, and Plotly's 4.8 MB script weighs about 1.9 MB in the file. The browser
inflates both with its built-in ``DecompressionStream`` before drawing. Jinja2 fills
the page skeleton (``assets/page.html.j2``); ``assets/report.js`` draws every view.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import math
from importlib import resources
from typing import Any

INSTALL_HINT = "pip install 'adrs[report]' (Plotly and Jinja2)"
REFRESH_MS = 3000


class MissingReportExtra(ValueError):
    """The optional ``report`` extra is not installed (one line saying how to)."""


def render_page(data: dict[str, Any], *, title: str, subtitle: str = "",
                live: bool = False) -> str:
    """The HTML page drawing ``data`` (from :func:`adrs.report.read_run` or a comparison).

    Args:
        title: The page's title and heading.
        subtitle: A line under it.
        live: Served by ``adrs serve``: the page fetches ``/api/data`` again every few
            seconds and candidates' details from ``/api/candidate/ID``.

    Raises:
        MissingReportExtra: Plotly or Jinja2 is not installed.
    """
    template = _template()
    return template.render(
        title=title, subtitle=subtitle, css=_asset("report.css"), js=_asset("report.js"),
        plotly_gz=_plotly_gz(), data_gz=_pack(to_json(data)),
        boot={"live": live, "refresh_ms": REFRESH_MS})


def to_json(data: Any) -> str:
    """Compact JSON; a non-finite float (never expected) becomes null rather than the
    invalid ``NaN`` that would break the page."""
    return json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _pack(text: str) -> str:
    return base64.b64encode(gzip.compress(text.encode(), compresslevel=6, mtime=0)).decode()


def _asset(name: str) -> str:
    return resources.files("adrs.report").joinpath("assets", name).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _template() -> Any:
    try:
        import jinja2
    except ImportError:
        raise MissingReportExtra(f"the report needs Jinja2: {INSTALL_HINT}") from None
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string(_asset("page.html.j2"))


@functools.lru_cache(maxsize=1)
def _plotly_gz() -> str:
    """Plotly's script as shipped in the ``plotly`` Python package, gzipped, base64."""
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise MissingReportExtra(f"the report needs Plotly: {INSTALL_HINT}") from None
    return _pack(get_plotlyjs())
