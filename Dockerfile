# One image for the three roles of warmserve, chosen by the command:
#   serve    the API (default)        trainer  the trainer service
#   mlflow   the MLflow server (registry + proxied artifacts)
# Each runs as PID 1 and stops cleanly on SIGTERM. Non-root (uid 10001).
#
# Built offline from a wheelhouse, so no network is needed during the build:
#   bash scripts/docker-wheelhouse.sh          (wheels of warmserve[postgres] -> wheelhouse/)
#   docker build --network none -t warmserve:latest .
# BASE_IMAGE may be any Debian-like image with python3 3.11 and venv (see docs/deploy.md).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
COPY wheelhouse/ /wheels/
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels "warmserve[postgres]"

FROM ${BASE_IMAGE}
COPY --from=build /opt/venv /opt/venv
RUN useradd --system --uid 10001 --user-group --home-dir /data --no-create-home warmserve \
 && mkdir -p /data/inbox /data/trainer /data/artifacts \
 && chown -R 10001:10001 /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    WARMSERVE_HOME=/data \
    WARMSERVE_HOST=0.0.0.0 \
    WARMSERVE_TRAINER_HOST=0.0.0.0 \
    WARMSERVE_MLFLOW_HOST=0.0.0.0 \
    WARMSERVE_HEALTH_URL=http://127.0.0.1:8000/health/live
USER 10001:10001
WORKDIR /data
EXPOSE 8000 8100 5000
# The URL depends on the role: compose sets WARMSERVE_HEALTH_URL per service.
HEALTHCHECK --interval=10s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['WARMSERVE_HEALTH_URL'], timeout=4)"]
ENTRYPOINT ["warmserve"]
CMD ["serve"]
