"""AWS Lambda entry point: the same FastAPI app behind API Gateway (REST and HTTP API events).

Handler: ``serving.lambda_handler.handler``. The app (and the bundles it has loaded) lives as
long as the Lambda container, so warm invocations reuse loaded models and the cache; point it
at S3 with ``PRICING_S3_BUCKET`` and at ElastiCache with ``REDIS_URL``.
"""

from mangum import Mangum

from .app import create_app

handler = Mangum(create_app(), lifespan="off")
