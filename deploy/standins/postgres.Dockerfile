# A stand-in for the official postgres image where no registry is reachable: Debian's
# PostgreSQL 15 with the same environment contract (POSTGRES_USER, POSTGRES_PASSWORD,
# POSTGRES_DB, PGDATA) and data directory. Used only by the opt-in container test.
ARG INFRA_IMAGE=local/bookworm-infra:latest
FROM ${INFRA_IMAGE}
COPY postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint.sh
RUN chmod 755 /usr/local/bin/postgres-entrypoint.sh \
 && mkdir -p /var/lib/postgresql/data \
 && chown -R postgres:postgres /var/lib/postgresql \
 && chmod 700 /var/lib/postgresql/data
ENV PGDATA=/var/lib/postgresql/data
# The uid Debian gave the postgres user is only known inside the image.
# hadolint ignore=DL3066
USER postgres
EXPOSE 5432
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint.sh"]
