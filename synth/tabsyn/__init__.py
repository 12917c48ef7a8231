"""TabSyn with CorrDst: a column-token VAE and latent diffusion for one-row-per-person marts.

Example:
    >>> from synth.tabsyn import TabSyn, TabSynConfig
    >>> model = TabSyn(TabSynConfig.from_dict({"profile": "fast"}))
"""

from synth.tabsyn.config import TabSynConfig
from synth.tabsyn.encoding import TableEncoder
from synth.tabsyn.model import TabSyn

__all__ = ["TabSyn", "TabSynConfig", "TableEncoder"]
