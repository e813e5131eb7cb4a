"""Dagster resources: the artifact store (local folder or S3 through dagster-aws)."""

from dagster import ConfigurableResource, ResourceDependency
from dagster_aws.s3 import S3Resource

from .core.store import ArtifactStore, LocalArtifactStore, S3ArtifactStore


class ArtifactStoreResource(ConfigurableResource):
    """Where every artifact is written: ``local_root`` unless ``s3_bucket`` is set.

    The S3 client comes from dagster-aws's ``S3Resource`` (so its ``endpoint_url`` points tests
    at moto's server and production at AWS or any S3-compatible store).
    """

    local_root: str
    s3_bucket: str = ""
    s3_prefix: str = "pricing"
    s3: ResourceDependency[S3Resource]

    def get_store(self) -> ArtifactStore:
        if self.s3_bucket:
            return S3ArtifactStore(self.s3.get_client(), self.s3_bucket, self.s3_prefix)
        return LocalArtifactStore(self.local_root)

    @property
    def location(self) -> str:
        return f"s3://{self.s3_bucket}/{self.s3_prefix}" if self.s3_bucket else self.local_root
