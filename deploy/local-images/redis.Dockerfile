# Stand-in for redis:7-alpine with Debian bookworm's Redis 7.0: data in /data,
# protected mode off like the official image (the container network is the
# boundary; the port is never published).
ARG ROOTFS=localhost/modelgate-bookworm-min:1
FROM ${ROOTFS}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server redis-tools \
 && rm -rf /var/lib/apt/lists/* \
 && mkdir -p /data && chown redis:redis /data
COPY redis-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
WORKDIR /data
USER redis
EXPOSE 6379
ENTRYPOINT ["sh", "/usr/local/bin/docker-entrypoint.sh"]
CMD ["redis-server"]
