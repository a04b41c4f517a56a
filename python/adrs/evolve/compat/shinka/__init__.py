"""adrs's stand-in for the ``shinka`` package, as ShinkaEvolve's task folders use it: only
:func:`shinka.core.run_shinka_eval`."""
