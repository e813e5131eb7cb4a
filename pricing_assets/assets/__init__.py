"""Software-defined assets of the pricing lineage (thin wiring over ``pricing_assets.core``)."""

import warnings

from dagster import BetaWarning, PreviewWarning

# See definitions.py: partitioned checks (preview) and Output data versions (beta) are deliberate.
warnings.filterwarnings("ignore", category=PreviewWarning)
warnings.filterwarnings("ignore", category=BetaWarning)
