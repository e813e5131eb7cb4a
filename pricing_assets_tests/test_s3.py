import boto3
from dagster import DagsterInstance

from pricing_assets.core.bundle import read_bundle
from pricing_assets.core.store import S3ArtifactStore, parquet_to_frame
from pricing_assets.core.synthetic import SyntheticConfig, generate

from .helpers import PROMOTED_RANK, materialize_raw, run_lineage


def test_s3_mode_against_moto_server(settings, moto_s3, s3_bucket):
    s3_settings = settings.with_(env="production", s3_bucket=s3_bucket, s3_endpoint_url=moto_s3, s3_prefix="lineage")
    raw, _ = generate(SyntheticConfig(seed=7, n_products=4))
    code = raw["StockCode"].value_counts().index[PROMOTED_RANK]  # one the challenger promotes
    with DagsterInstance.ephemeral() as instance:
        assert materialize_raw(instance, s3_settings).success
        assert run_lineage(instance, s3_settings, code).success  # raw data to a promoted bundle, all in S3
    client = boto3.client("s3", endpoint_url=moto_s3)
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=s3_bucket)["Contents"]}
    assert {
        "lineage/assets/raw_transactions.parquet",
        f"lineage/assets/cleaned_transactions/{code}.parquet",
        f"lineage/assets/demand_features/{code}.parquet",
        f"lineage/assets/drift_report/{code}.json",
        f"lineage/assets/weekly_features/{code}.parquet",
        f"lineage/assets/demand_forecast/{code}.json",
        "lineage/artifacts/raw_transactions/ground_truth.parquet",
        f"lineage/assets/preprocessor/{code}.json",
        f"lineage/assets/price_scenario/{code}.parquet",
        f"lineage/artifacts/dfn_model/{code}/state_dict.pt",
        f"lineage/artifacts/shap_explanations/{code}/importance.png",
        f"lineage/promoted/{code}/current.json",
    } <= keys
    assert any(k.startswith(f"lineage/reports/drift_report/{code}/") and k.endswith(".html") for k in keys)
    assert not (settings.artifact_root / "assets").exists()  # nothing went to the local folder
    store = S3ArtifactStore(client, s3_bucket, "lineage")
    features = parquet_to_frame(store.get_bytes(f"assets/demand_features/{code}.parquet"))
    assert len(features) > 1000 and (features["stock_code"] == code).all()
    assert store.exists(f"assets/drift_report/{code}.json")
    weekly = parquet_to_frame(store.get_bytes(f"assets/weekly_features/{code}.parquet"))
    assert set(weekly["customer_type"]) == {"registered", "guest"} and (weekly["stock_code"] == code).all()
    assert not store.exists("assets/drift_report/nothing.json")
    bundle = read_bundle(store, code)  # every file verified against the manifest, read over HTTP
    assert bundle.manifest["stock_code"] == code and bundle.manifest["checks"]["no_feature_drift"]["passed"]
