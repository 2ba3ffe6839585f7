# The image of the pipeline's components on Kubeflow: every component but the GPU Trainer.
#
#   docker build -f kubeflow/docker/pipeline.Dockerfile -t REGISTRY/palsy-tfx:TAG .
#
# KubeflowV2DagRunner starts each component as
#   python -m tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor ...
# so the first `python` on PATH is the project's .venv, with TFX and palsy-tfx in it.
#
# Base: Python 3.10 slim, not tensorflow/tfx:1.16.0. The lock decides every version, as
# on a laptop and in CI; the TFX image would bring a second, different stack to replace.
# No apt packages: the dlib, PyAV and OpenCV wheels bundle their libraries and need only
# glibc, libstdc++ and zlib, which the slim image has (readelf -d over the locked wheels).
FROM python:3.10.15-slim-bookworm

ARG UV_VERSION=0.9.5
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_NO_CACHE=1
# The components run as user 1000. Kubeflow's v2 launcher makes its local artifact paths
# under /gcs, /minio and /s3, at the root, so those are made here and given to that user.
RUN python -m pip install --no-cache-dir --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    && useradd --create-home --uid 1000 --user-group palsy \
    && mkdir /gcs /minio /s3 && chown palsy:palsy /gcs /minio /s3

WORKDIR /app
# The locked stack first, so that a change of source reuses this layer.
COPY requirements.lock ./
RUN uv venv --quiet --python /usr/local/bin/python3.10 .venv \
    && uv pip sync --quiet --python .venv/bin/python requirements.lock
COPY . .
RUN uv pip install --quiet --python .venv/bin/python --no-deps -e .

ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH
USER 1000:1000
