# A stand-in for postgres:16 made from Debian packages (PostgreSQL 15 from bookworm), only
# for `.ci/container-check --stack` on machines that reach no image registry. It honours
# what compose.yaml uses of the upstream image: POSTGRES_USER, POSTGRES_PASSWORD(_FILE),
# POSTGRES_DB and a data volume at /var/lib/postgresql/data.
ARG BASE_IMAGE=localhost/debian-base:bookworm
FROM ${BASE_IMAGE}
# the Debian mirror to install from (.ci/container-check passes the one its machine's apt
# uses); empty keeps the base image's sources
ARG DEBIAN_MIRROR=
RUN if [ -n "$DEBIAN_MIRROR" ]; then echo "deb $DEBIAN_MIRROR bookworm main" > /etc/apt/sources.list; fi \
    && apt-get update \
    && apt-get install -y --no-install-recommends postgresql-15 \
    && rm -rf /var/lib/apt/lists/*
COPY postgres-standin-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
ENV PGDATA=/var/lib/postgresql/data
EXPOSE 5432
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
