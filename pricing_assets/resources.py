"""Dagster resources: the artifact store (a local folder or S3) and the S3 client it and the sensor use."""

from typing import Any

from dagster import ConfigurableResource, ResourceDependency

from .core.store import ArtifactStore, LocalArtifactStore, S3ArtifactStore, s3_client


class S3ClientResource(ConfigurableResource):
    """An S3 client, made when first asked for (``core.store.s3_client``).

    Why not dagster-aws's ``S3Resource``: importing ``dagster_aws.s3`` took 0.7-0.8 s of every
    process that loads the code location (each ``pricing run``, the webserver, the daemon, each run
    worker), for a client the lineage only needs when PRICING_S3_BUCKET or PRICING_WATCH_S3_PREFIX is
    set, and it used none of that resource's other options. ``endpoint_url`` points tests at moto's
    server and production at AWS or any S3-compatible store.
    """

    endpoint_url: str | None = None

    def get_client(self) -> Any:
        return s3_client(self.endpoint_url)


class ArtifactStoreResource(ConfigurableResource):
    """Where every artifact is written: ``local_root`` unless ``s3_bucket`` is set."""

    local_root: str
    s3_bucket: str = ""
    s3_prefix: str = "pricing"
    s3: ResourceDependency[S3ClientResource]

    def get_store(self) -> ArtifactStore:
        if self.s3_bucket:
            return S3ArtifactStore(self.s3.get_client(), self.s3_bucket, self.s3_prefix)
        return LocalArtifactStore(self.local_root)

    @property
    def location(self) -> str:
        return f"s3://{self.s3_bucket}/{self.s3_prefix}" if self.s3_bucket else self.local_root
