"""The jobs: load the source, and run one stockcode's lineage (everything per stockcode)."""

from dagster import AssetSelection, define_asset_job

from .assets.transactions import GROUP, raw_transactions
from .partitions import stockcode_partitions

RAW_JOB = "raw_transactions_job"
LINEAGE_JOB = "stockcode_lineage_job"

raw_transactions_job = define_asset_job(
    RAW_JOB, selection=AssetSelection.assets(raw_transactions), description="Load the source table."
)
stockcode_lineage_job = define_asset_job(
    LINEAGE_JOB,
    selection=AssetSelection.groups(GROUP),
    partitions_def=stockcode_partitions,
    description="Everything per stockcode, from cleaned_transactions to the end of the lineage.",
)
