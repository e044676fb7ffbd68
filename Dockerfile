# Modelgate image: the web app, Celery worker and beat, the stream consumer,
# and the MLflow tracking server all run from it (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DO_NOT_TRACK=1 \
    DJANGO_SETTINGS_MODULE=config.settings.production \
    MODELGATE_DATA_DIR=/data

RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 modelgate

WORKDIR /app
COPY pyproject.toml requirements.lock README.md ./
# Install the dependencies first so code changes do not re-install them.
RUN mkdir -p config core governance inference monitoring trainer \
 && pip install -c requirements.lock . \
 && pip uninstall -y modelgate
COPY . .
RUN pip install --no-deps -c requirements.lock . \
 && DJANGO_SECRET_KEY=build-only DJANGO_ALLOWED_HOSTS=localhost \
    python manage.py collectstatic --no-input -v 0 \
 && mkdir -p /data && chown -R modelgate:modelgate /data

USER modelgate
EXPOSE 8000
CMD ["python", "-m", "gunicorn", "config.wsgi", "--config", "config/gunicorn.py"]
