# Stand-in for python:3.11-slim-bookworm: Debian bookworm's Python 3.11 as
# `python`, with venv and pip's CA certificates.
ARG ROOTFS=localhost/modelgate-bookworm-min:1
FROM ${ROOTFS}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      python3 python3-venv python-is-python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
CMD ["python3"]
