"""Stand-ins for the modules other frameworks' task folders import.

A task folder of OpenEvolve imports ``openevolve.evaluation_result``, one of ShinkaEvolve
``shinka.core.run_shinka_eval``; adrs provides these names itself (its own
implementations), so such folders run unchanged without those frameworks installed. The folder's jail appends this directory to ``sys.path``,
after everything else: an installed framework still wins. Nothing here is imported by
adrs itself.
"""

import os

PATH = os.path.dirname(os.path.abspath(__file__))
