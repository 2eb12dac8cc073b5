# MLflow tracking server with the PostgreSQL driver, for compose.yaml's `mlflow` service.
# mlflow 3.17.2 matches the pspsweep image's client (pyproject: mlflow>=3.0,<3.18).
# the base image's digest: see compose.yaml
ARG BASE_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff
FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
# mlflow and the PostgreSQL driver exactly as locked in mlflow-requirements.txt (pip-compile
# of mlflow-requirements.in), every file checked against its hash; a CA bundle can be
# passed as a build secret where TLS is intercepted:
#   --secret id=pipcert,src=/etc/ssl/certs/ca-certificates.crt
COPY mlflow-requirements.txt /tmp/
RUN --mount=type=secret,id=pipcert \
    if [ -s /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && pip install --require-hashes --no-deps -r /tmp/mlflow-requirements.txt \
    && pip check
COPY wait-for.py /usr/local/bin/wait-for
COPY backend-store-uri.py /usr/local/bin/backend-store-uri
RUN useradd --create-home --uid 1000 mlflow \
    && mkdir /mlartifacts \
    && chown mlflow:mlflow /mlartifacts
USER mlflow
EXPOSE 5000
ENTRYPOINT ["mlflow", "server"]
