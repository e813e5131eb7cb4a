"""The jobs: load the source (and learn the catalogue's price response), run one stockcode's lineage, and
report on the whole catalogue."""

from dagster import AssetSelection, define_asset_job

from .assets.catalogue import catalogue_report
from .assets.price_response import catalogue_price_response
from .assets.transactions import GROUP, raw_transactions
from .partitions import stockcode_partitions

RAW_JOB = "raw_transactions_job"
LINEAGE_JOB = "stockcode_lineage_job"
REPORT_JOB = "catalogue_report_job"

raw_transactions_job = define_asset_job(
    RAW_JOB,
    selection=AssetSelection.assets(raw_transactions, catalogue_price_response),
    description="Load the source table, then learn the catalogue's price response from it (shared by every stockcode).",
)
stockcode_lineage_job = define_asset_job(
    LINEAGE_JOB,
    selection=AssetSelection.groups(GROUP),
    partitions_def=stockcode_partitions,
    description="Everything per stockcode, from cleaned_transactions to the end of the lineage.",
)
catalogue_report_job = define_asset_job(
    REPORT_JOB,
    selection=AssetSelection.assets(catalogue_report),
    description="The catalogue report: every stockcode's last lineage run, promoted or held and why.",
)
