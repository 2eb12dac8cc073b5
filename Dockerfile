# pspsweep container: `podman build -t pspsweep .` then `podman run --rm -v "$PWD:/work" pspsweep`.
# BASE_IMAGE must provide Python 3.11 with venv and its shared library (python:3.11-slim does).
ARG BASE_IMAGE=python:3.11-slim

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
COPY pyproject.toml README.md ./
COPY src ./src
# a CA bundle can be passed as a build secret where TLS is intercepted:
#   --secret id=pipcert,src=/etc/ssl/certs/ca-certificates.crt
RUN --mount=type=secret,id=pipcert \
    if [ -f /run/secrets/pipcert ]; then export PIP_CERT=/run/secrets/pipcert; fi \
    && pip install . \
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
