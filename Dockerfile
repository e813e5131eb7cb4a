# Image of the Dagster code location. One image, three roles (pick with the command):
#   code server (default): dagster code-server start -m pricing_assets.definitions -h 0.0.0.0 -p 4000
#   webserver:             dagster-webserver -h 0.0.0.0 -p 3000 -w workspace.yaml
#   daemon:                dagster-daemon run -w workspace.yaml
# Build:  docker build -t pricing-lineage .
# Run:    docker run --rm -p 3000:3000 -e DAGSTER_HOME=/opt/dagster/home pricing-lineage \
#           dagster dev -h 0.0.0.0 -p 3000 -w workspace.yaml
# PyTorch: torch==2.13.0 from PyPI is a large CUDA build on x86_64; to get the CPU build, pass a
# CPU wheel index with --build-arg PIP_EXTRA_INDEX_URL=<your CPU wheel index>.
# Kubernetes (deploy/k8s): --build-arg EXTRAS=k8s adds dagster-k8s, which the run and step pods need.
FROM python:3.11-slim

ARG PIP_EXTRA_INDEX_URL=""
ARG EXTRAS=""
ENV PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    DAGSTER_HOME=/opt/dagster/home \
    PRICING_PROJECT_DIR=/opt/dagster/app

WORKDIR /opt/dagster/app
COPY pyproject.toml setup.py README.md workspace.yaml ./
COPY pricing_assets ./pricing_assets
COPY serving ./serving
RUN pip install ".${EXTRAS:+[$EXTRAS]}" && mkdir -p "$DAGSTER_HOME" \
    && printf 'telemetry:\n  enabled: false\n' > "$DAGSTER_HOME/dagster.yaml" \
    && useradd --create-home --uid 10001 dagster && chown -R dagster "$DAGSTER_HOME" /opt/dagster/app
USER dagster

EXPOSE 3000 4000
CMD ["dagster", "code-server", "start", "-m", "pricing_assets.definitions", "-h", "0.0.0.0", "-p", "4000"]
