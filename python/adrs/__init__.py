"""adrs: AI-Driven Research for Systems.

Language models (or an offline mutator) rewrite a systems algorithm; native simulators
score every version on real workloads; a database of scored programs steers the search.
"""

__version__ = "0.1.0"
