"""Simulators of adrs in Numba, with their workload loaders and generators.

Installed as ``adrs.simulators``; each simulator family has its own modules (``spot``,
``spot_traces``, ``spot_synthetic``; ``txn``, ``txn_workloads``; ``llm_sql``; ``eplb``;
``prism``, ``prism_cases``), and the C++ core of the same rules lives in ``cpp/`` as
``adrs._core``.
"""
