# A stand-in for python:3.11-slim made only from Debian packages, for machines that
# reach Debian's archive and PyPI but no image registry (see .ci/container-check).
# BASE_IMAGE is a plain Debian bookworm image, e.g. one made with debootstrap + podman import.
# Differences from the upstream image: Python 3.11 is Debian's (/usr/bin/python3, with
# libpython3.11 and pip from Debian), not a source build under /usr/local.
ARG BASE_IMAGE=localhost/debian-base:bookworm
FROM ${BASE_IMAGE}
ENV LANG=C.UTF-8
# the Debian mirror to install from (.ci/container-check passes the one its machine's apt
# uses); empty keeps the base image's sources
ARG DEBIAN_MIRROR=
RUN if [ -n "$DEBIAN_MIRROR" ]; then echo "deb $DEBIAN_MIRROR bookworm main" > /etc/apt/sources.list; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends \
        python3 python3-venv python3-pip libpython3.11 ca-certificates \
    && rm -rf /var/lib/apt/lists/*
CMD ["python3"]
