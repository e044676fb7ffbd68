# Stand-in for postgres:16-alpine with Debian bookworm's PostgreSQL 15: the
# same entrypoint contract (POSTGRES_USER/PASSWORD/DB, *.sql and *.sh in
# /docker-entrypoint-initdb.d on first start, data in PGDATA, pg_isready).
ARG ROOTFS=localhost/modelgate-bookworm-min:1
FROM ${ROOTFS}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /var/lib/postgresql/data /docker-entrypoint-initdb.d /var/run/postgresql \
 && chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql \
 && chmod 700 /var/lib/postgresql/data
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data \
    LANG=C.UTF-8
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
USER postgres
EXPOSE 5432
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["postgres"]
