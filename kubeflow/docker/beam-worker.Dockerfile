# The Beam SDK worker image for ingest on Dataflow (Runner v2), Flink or Spark:
#
#   docker build -f kubeflow/docker/beam-worker.Dockerfile -t REGISTRY/palsy-tfx-beam:TAG .
#
# then --sdk_container_image=REGISTRY/palsy-tfx-beam:TAG (Dataflow), or
# --environment_type=DOCKER --environment_config=REGISTRY/palsy-tfx-beam:TAG (portable
# runners), or `docker run REGISTRY/palsy-tfx-beam:TAG --worker_pool` beside Flink.
#
# The base is Beam's own SDK image of the locked apache-beam, and its entrypoint, the
# boot program that runners start, stays. Boot runs the first `python` on PATH: the
# project's .venv (dlib, PyAV and this package, from the lock), because
# RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1 stops it from making a venv of its own.
# The venv is seeded with pip: boot asks `python -m pip show apache-beam` before it starts.
# The user stays the base image's (root), under which boot installs any staged packages;
# a non-root worker was not tried on Dataflow, Flink or Spark.
FROM apache/beam_python3.10_sdk:2.59.0

ARG UV_VERSION=0.9.5
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_NO_CACHE=1
RUN python -m pip install --no-cache-dir --quiet --disable-pip-version-check "uv==${UV_VERSION}"

WORKDIR /app
COPY requirements.lock ./
RUN uv venv --seed --quiet --python /usr/local/bin/python3.10 .venv \
    && uv pip sync --quiet --python .venv/bin/python requirements.lock
COPY . .
RUN uv pip install --quiet --python .venv/bin/python --no-deps -e .

ENV VIRTUAL_ENV=/app/.venv PATH=/app/.venv/bin:$PATH RUN_PYTHON_SDK_IN_DEFAULT_ENVIRONMENT=1
ENTRYPOINT ["/opt/apache/beam/boot"]
