"""A Vega-Lite chart widget that updates its data in place instead of drawing anew.

Solara's own ``VegaLite`` widget compiles and embeds the whole specification on every change,
after a 100 ms debounce; a dashboard that redraws seven charts each month needs less. Here the
specification (axes, marks, scales) is sent once per run, and each month only the rows of the
named datasets change, which Vega redraws incrementally.
"""

from __future__ import annotations

from pathlib import Path

import ipyvuetify as v
import traitlets


class VegaView(v.VuetifyTemplate):
    """``spec``: a Vega-Lite spec with named data sources; ``datasets``: rows for each name; both JSON text.

    JSON text rather than dicts: the page's renderer walks nested lists and dicts in every
    argument looking for child elements, which for a few thousand chart rows costs more than
    the model's step.
    """

    template_file = str(Path(__file__).parent / "vue" / "vega_view.vue")
    spec = traitlets.Unicode("{}").tag(sync=True)
    datasets = traitlets.Unicode("{}").tag(sync=True)
