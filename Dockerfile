# syntax=docker/dockerfile:1
# robe-serve. CPU image (default):  docker build -t robe-serve .
#             CUDA image:           docker build --build-arg VARIANT=cuda -t robe-serve:cuda .
# The serving image runs the ONNX Runtime path only: no torch, no compiler, no training
# data. Torch lives in the `models` stage, which trains the demo models and is dropped.
# Stages: wheel (the project's wheel), models (demo artifacts), venv (serving deps +
# wheel), locust (compose's load generator), serve (the image; last, so the default
# target). Dependencies sit in layers of their own, before the code.

ARG VARIANT=cpu
ARG PYTHON_IMAGE=python:3.12-slim-bookworm
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

# The base of the serving image, one per VARIANT; each has a python3 that can make venvs.
FROM ${PYTHON_IMAGE} AS base-cpu

FROM ${CUDA_IMAGE} AS base-cuda
# Ubuntu 24.04's python3 is 3.12. Pinning apt versions would break the build at the
# next security update of the archive, so the versions are the release's current ones.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*

# The project's wheel, built from the packaged sources only; the tests build the same.
FROM ${PYTHON_IMAGE} AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY robe ./robe
COPY model_export ./model_export
COPY service ./service
COPY loadtest ./loadtest
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /wheels .

# The demo models: synthetic data, a ROBE model and its plain-table baseline, to ONNX.
# Torch is the CPU build from its own index (PyPI's default torch is a CUDA build).
FROM ${PYTHON_IMAGE} AS models
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
ARG DEMO_ROWS=50000
WORKDIR /build
COPY pyproject.toml deploy/requirements.py ./
RUN python3 requirements.py pyproject.toml train --only torch > torch.txt \
    && pip install --no-cache-dir --index-url "${TORCH_INDEX}" --requirement torch.txt \
    && python3 requirements.py pyproject.toml train export --without torch > requirements.txt \
    && pip install --no-cache-dir --requirement requirements.txt
COPY --from=wheel /wheels /wheels
RUN pip install --no-cache-dir --no-deps /wheels/robe_serve-*.whl
COPY deploy/demo-schema.json deploy/build-demo-models.sh ./
RUN ./build-demo-models.sh /models "${DEMO_ROWS}"

# The serving virtualenv: the `serve` extra (onnxruntime-gpu for cuda), then the wheel.
# (base-cpu and base-cuda are the stages above, not images: there is no tag to pin.)
# hadolint ignore=DL3006
FROM base-${VARIANT} AS venv
ARG VARIANT
WORKDIR /build
COPY pyproject.toml deploy/requirements.py ./
RUN python3 -m venv /opt/venv \
    && python3 requirements.py pyproject.toml serve --variant "${VARIANT}" > requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir --requirement requirements.txt
COPY --from=wheel /wheels /wheels
RUN /opt/venv/bin/pip install --no-cache-dir --no-deps /wheels/robe_serve-*.whl \
    && /opt/venv/bin/pip check \
    && if /opt/venv/bin/python -c "import torch" 2>/dev/null; then \
        echo "torch must not be in the serving image" >&2; exit 1; fi

# Locust for `docker compose --profile loadtest`: loadtest/locustfile.py runs from the
# sources as in a clone (it imports loadtest and robe), with the `loadtest` extra.
FROM ${PYTHON_IMAGE} AS locust
WORKDIR /build
COPY pyproject.toml deploy/requirements.py ./
RUN python3 requirements.py pyproject.toml loadtest > requirements.txt \
    && pip install --no-cache-dir --requirement requirements.txt \
    && useradd --system --user-group --uid 10001 --no-create-home --shell /usr/sbin/nologin locust
WORKDIR /opt/robe
COPY robe ./robe
COPY loadtest ./loadtest
USER 10001:10001
EXPOSE 8089
ENTRYPOINT ["locust", "-f", "loadtest/locustfile.py"]
CMD ["--host", "http://robe:8000", "--web-port", "8089"]

# The serving image, the default target: the venv, the demo models, a non-root user.
# hadolint ignore=DL3006
FROM base-${VARIANT} AS serve
LABEL org.opencontainers.image.title="robe-serve" \
      org.opencontainers.image.description="DLRM recommendations with ROBE embeddings, ONNX Runtime" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN useradd --system --user-group --uid 10001 --no-create-home --shell /usr/sbin/nologin robe
# Host and port are settings (not CMD flags) so that a CMD override that names other
# models keeps them; ROBE_BACKEND pins the torch-free runtime.
ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ROBE_HOST=0.0.0.0 \
    ROBE_PORT=8000 \
    ROBE_BACKEND=onnx
COPY deploy/healthcheck.py /opt/robe/healthcheck.py
COPY --from=models /models /models
COPY --from=venv /opt/venv /opt/venv
# Mount other artifacts here; an empty named volume starts with the demo models.
VOLUME ["/models"]
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
    CMD ["python", "/opt/robe/healthcheck.py"]
ENTRYPOINT ["robe", "serve"]
CMD ["--model", "robe=/models/robe", "--model", "full=/models/full"]
