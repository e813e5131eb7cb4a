"""The jobs: load the source (and learn the catalogue's price response), run one stockcode's lineage, and
report on the whole catalogue.

Built from the Settings of the code location (``build_definitions(settings)``): each job's default run
config is every asset's config made from those Settings (run_config.py), so the schedule, the sensors,
the CLI and a launch from the UI all run with them.
"""

from typing import TYPE_CHECKING

from dagster import AssetSelection, define_asset_job

from .assets.catalogue import catalogue_report
from .assets.catalogue_price_response import catalogue_price_response
from .assets.transactions import GROUP, raw_transactions
from .run_config import lineage_run_config, raw_run_config, report_run_config
from .settings import Settings

if TYPE_CHECKING:  # what define_asset_job returns; Dagster does not export the name
    from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

RAW_JOB = "raw_transactions_job"
LINEAGE_JOB = "stockcode_lineage_job"
REPORT_JOB = "catalogue_report_job"


def build_jobs(settings: Settings) -> "dict[str, UnresolvedAssetJobDefinition]":
    """The three jobs by name, each with its run config from ``settings`` as its default."""
    jobs = [
        define_asset_job(
            RAW_JOB,
            selection=AssetSelection.assets(raw_transactions, catalogue_price_response),  # and catalogue_demand_index
            config=raw_run_config(settings),
            description=(
                "Load the source table, then learn the catalogue's price response and weekly demand index from it "
                "(shared by every stockcode)."
            ),
        ),
        define_asset_job(
            LINEAGE_JOB,
            selection=AssetSelection.groups(GROUP),  # partitioned by stockcode, as its assets are
            config=lineage_run_config(settings),
            description="Everything per stockcode, from cleaned_transactions to the end of the lineage.",
        ),
        define_asset_job(
            REPORT_JOB,
            selection=AssetSelection.assets(catalogue_report),
            config=report_run_config(settings),
            description="The catalogue report: every stockcode's last lineage run, promoted or held and why.",
        ),
    ]
    return {job.name: job for job in jobs}
