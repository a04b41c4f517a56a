"""Stand-ins for the modules other frameworks' task folders import.

A task folder of OpenEvolve imports ``openevolve.evaluation_result``; adrs provides that
module's public names itself (its own implementation), so such a folder runs unchanged
without OpenEvolve installed. The folder's jail appends this directory to ``sys.path``,
after everything else: an installed OpenEvolve still wins. Nothing here is imported by
adrs itself.
"""

import os

PATH = os.path.dirname(os.path.abspath(__file__))
