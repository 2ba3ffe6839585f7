# The GPU Trainer's image: the pipeline image's stack with TensorFlow's CUDA wheels.
#
#   docker build -f kubeflow/docker/trainer-gpu.Dockerfile -t REGISTRY/palsy-tfx-gpu:TAG .
#
# requirements-gpu.lock is requirements.lock plus tensorflow[and-cuda]==2.16.2's nvidia-*
# wheels (CUDA 12.3, cuDNN 8.9), so the Trainer runs the very versions the CPU stack does.
# Base: Python 3.10 slim, not nvidia/cuda: the wheels carry the CUDA libraries, and the
# NVIDIA container runtime mounts the driver's libcuda from the node.
# PALSY_REQUIRE_GPU=1 makes the Trainer stop with the reason when TensorFlow sees no GPU
# (trainer/devices.py) instead of training on the CPU without a word.
FROM python:3.10.15-slim-bookworm

ARG UV_VERSION=0.9.5
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 UV_NO_CACHE=1
# The components run as user 1000. Kubeflow's v2 launcher makes its local artifact paths
# under /gcs, /minio and /s3, at the root, so those are made here and given to that user.
RUN python -m pip install --no-cache-dir --quiet --disable-pip-version-check "uv==${UV_VERSION}" \
    && useradd --create-home --uid 1000 --user-group palsy \
    && mkdir /gcs /minio /s3 && chown palsy:palsy /gcs /minio /s3

WORKDIR /app
COPY requirements-gpu.lock ./
RUN uv venv --quiet --python /usr/local/bin/python3.10 .venv \
    && uv pip sync --quiet --python .venv/bin/python requirements-gpu.lock
# TensorFlow 2.16 does not always find the CUDA libraries inside the nvidia-* wheels by
# itself: register their lib/ folders with the dynamic linker.
RUN find /app/.venv/lib/python3.10/site-packages/nvidia -mindepth 2 -maxdepth 2 -type d \
        -name lib > /etc/ld.so.conf.d/palsy-nvidia-wheels.conf \
    && ldconfig
COPY . .
RUN uv pip install --quiet --python .venv/bin/python --no-deps -e .

# ptxas from the nvidia-cuda-nvcc wheel, for XLA's kernels.
ENV VIRTUAL_ENV=/app/.venv \
    PATH=/app/.venv/bin:/app/.venv/lib/python3.10/site-packages/nvidia/cuda_nvcc/bin:$PATH \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    TF_FORCE_GPU_ALLOW_GROWTH=true \
    PALSY_REQUIRE_GPU=1
USER 1000:1000
