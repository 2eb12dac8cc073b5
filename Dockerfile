# pspsweep container: `podman build -t pspsweep .` then `podman run --rm -v "$PWD:/work" pspsweep`.
# BASE_IMAGE must provide Python 3.11 with venv and its shared library (python:3.11-slim does);
# the default is pinned by digest (see compose.yaml for where it comes from).
ARG BASE_IMAGE=python:3.11-slim@sha256:90744cff8f32887f075c47d747a173ff333e9e98801667af93c357fa9f5e28ff

FROM ${BASE_IMAGE} AS build
# nrnivmodl needs a C++17 compiler and make (perl comes with Debian's base)
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ make \
    && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PSPSWEEP_CACHE_DIR=/opt/pspsweep/mechanisms \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python3 -m venv /opt/venv
WORKDIR /src
# the dependencies exactly as locked, every file checked against its hash (the lock's
# header says how to regenerate it); a CA bundle can be passed as a build secret where
# TLS is intercepted:  --secret id=pipcert,src=/etc/ssl/certs/ca-certificates.crt
COPY docker/requirements.txt ./docker/
RUN --mount=type=secret,id=pipcert \
    if [ -f /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && pip install --require-hashes --no-deps -r docker/requirements.txt
COPY pyproject.toml README.md ./
COPY src ./src
# the project itself adds nothing from the network; pip check fails on a lock that no
# longer satisfies pyproject.toml
RUN pip install --no-deps --no-build-isolation . \
    && pip check \
    && pspsweep-mechanisms

FROM ${BASE_IMAGE}
ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PSPSWEEP_CACHE_DIR=/opt/pspsweep/mechanisms \
    MPLCONFIGDIR=/tmp/matplotlib
COPY --from=build /opt/venv /opt/venv
COPY --from=build /opt/pspsweep /opt/pspsweep
RUN useradd --create-home --uid 1000 pspsweep
USER pspsweep
WORKDIR /work
ENTRYPOINT ["pspsweep"]
