"""A matplotlib figure as PNG bytes, the one way every plot of the lineage is stored."""

from __future__ import annotations

import io
from typing import Any


def png_bytes(fig: Any) -> bytes:
    """``fig`` as PNG, closed afterwards. No version stamp in the file: the same figure gives the same bytes on
    every run, so a plot does not change an asset's data version by itself."""
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()
