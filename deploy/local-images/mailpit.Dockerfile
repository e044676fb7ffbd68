# Stand-in for axllent/mailpit: an SMTP sink on 1025 (aiosmtpd from Debian)
# and the part of mailpit's HTTP API on 8025 that the smoke test reads
# (GET /api/v1/messages, GET /readyz).
ARG ROOTFS=localhost/modelgate-bookworm-min:1
FROM ${ROOTFS}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-aiosmtpd \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 10025 --no-create-home mailsink
COPY mailsink.py /usr/local/bin/mailsink.py
USER 10025
EXPOSE 1025 8025
CMD ["python3", "/usr/local/bin/mailsink.py"]
