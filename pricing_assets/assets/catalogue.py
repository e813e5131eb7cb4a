"""The catalogue report: what became of every stockcode, after the per-stockcode lineage."""

from dagster import AssetExecutionContext, MetadataValue, Output, asset

from .. import outcomes
from ..core import catalogue
from ..resources import ArtifactStoreResource
from .common import SettingsConfig, code_version_of, png_markdown, setting
from .price_response import list_price_recommendation
from .promotion import promoted_model

REPORT_GROUP = "catalogue"  # with catalogue_price_response: the assets of the whole catalogue
PLOT_KEY = "artifacts/catalogue_report/summary.png"


class CatalogueReportConfig(SettingsConfig):
    """How many of the slowest stockcodes the report lists (a setting, see common.setting)."""

    slowest: int = setting("catalogue_slowest")


@asset(
    group_name=REPORT_GROUP,
    deps=[promoted_model, list_price_recommendation],  # every partition; read from the instance, not loaded
    code_version=code_version_of(catalogue, outcomes),
    description=(
        "Every registered stockcode's last lineage run: how many were promoted, held by each check "
        "(with the reasons), failed or not run; the distribution of the list-price recommendations "
        "(hold with its reasons, increase, decrease, capped; the moves' expected weekly gain); the "
        "slowest stockcodes. A Markdown table and a plot in the metadata; `pricing status --summary` "
        "prints the same."
    ),
)
def catalogue_report(
    context: AssetExecutionContext, config: CatalogueReportConfig, store: ArtifactStoreResource
) -> Output[dict]:
    artifact_store = store.get_store()
    rows = outcomes.stockcode_status(context.instance, artifact_store)
    summary = catalogue.summarise([outcomes.record_of(row) for row in rows], config.slowest)
    png = catalogue.plot_png(summary, f"catalogue: {summary.stockcodes} stockcodes")
    plot_uri = artifact_store.put_bytes(PLOT_KEY, png)
    counts = summary.outcomes
    context.log.info(
        f"{summary.stockcodes} stockcodes: {counts[catalogue.PROMOTED]} promoted, {counts[catalogue.HELD]} held, "
        f"{counts[catalogue.FAILED]} failed"
    )
    return Output(
        summary.to_dict(),
        metadata={
            "stockcodes": MetadataValue.int(summary.stockcodes),
            **{name.replace(" ", "_"): MetadataValue.int(count) for name, count in counts.items()},
            "summary": MetadataValue.md(catalogue.markdown(summary)),
            "plot": png_markdown("catalogue", png),
            "plot_path": MetadataValue.path(plot_uri),
        },
    )
