# Modelgate image: the web app, the Celery worker and beat, the stream
# consumer and the MLflow tracking server all run from it (docker-compose.yml,
# deploy/kubernetes). Build:  docker build -t modelgate .
#
# BASE_IMAGE: any Debian-based image with Python 3.11 on PATH as `python`
# (default the official slim image; deploy/local-images builds a stand-in
# from Debian's packages for machines that cannot pull it).
# PIP_CERT (optional): a CA bundle for pip, for registries reached through a
# TLS-inspecting proxy; mount it into the build (docs/deploy.md).
ARG BASE_IMAGE=python:3.11-slim-bookworm

# ------------------------------------------------------------------ build stage
FROM ${BASE_IMAGE} AS build
ARG PIP_CERT
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /src
COPY pyproject.toml requirements.lock ./
# Dependencies first, in their own layer: a code change does not reinstall
# them. Wheels only (every pinned dependency ships one for CPython 3.11 on
# manylinux): a dependency that would need a compiler fails the build here
# instead of slowly compiling; add its build packages to this stage then.
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > requirements.in \
 && pip install --only-binary=:all: -c requirements.lock -r requirements.in \
 && for pkg in numpy scipy pandas sklearn; do \
      find /opt/venv/lib/python3.11/site-packages/$pkg -depth -type d -name tests -exec rm -rf {} +; \
    done

# ---------------------------------------------------------------- runtime stage
FROM ${BASE_IMAGE} AS runtime
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    DO_NOT_TRACK=1 \
    EVIDENTLY_DISABLE_TELEMETRY=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MODELGATE_DATA_DIR=/data \
    DJANGO_STATIC_ROOT=/app/staticfiles \
    GUNICORN_BIND=0.0.0.0:8000 \
    HOME=/tmp
# One unprivileged user for every service (a high uid: no clash with a host
# account when a volume is shared). /data is the only writable place besides
# the temporary folders, which a read-only root filesystem mounts as tmpfs:
# /tmp and the Prometheus multiprocess folder (PROMETHEUS_MULTIPROC_DIR,
# set by docker-compose.yml and the Kubernetes ConfigMap).
RUN groupadd --gid 10001 modelgate \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /tmp \
      --shell /usr/sbin/nologin modelgate \
 && mkdir -p /data /mlartifacts /mlflow-auth \
 && chown -R 10001:10001 /data /mlartifacts /mlflow-auth
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --chown=root:root . .
# Static files are part of the image (never in a data volume): an upgraded
# image serves its own files and manifest.
RUN DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --no-input -v 0 \
 && python -m compileall -q -j 0 config core governance inference monitoring trainer

USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD ["python", "/app/docker/probe.py", "http://127.0.0.1:8000/health/live"]
CMD ["gunicorn", "config.wsgi", "--config", "config/gunicorn.py"]
