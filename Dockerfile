# bandit-router service image.
#   Build:  docker build -t bandit-router .
#           (another base with Python 3.11+ and python3-venv: --build-arg BASE_IMAGE=...)
#   Run:    docker run -p 127.0.0.1:8000:8000 -v br-data:/data bandit-router
#           (embedded SQLite in /data; the operator key is printed once in the log of the
#           first start: `docker logs CONTAINER`, or pass -e BANDIT_ROUTER_ADMIN_KEY=...)
#   Models: none are registered at start unless you ask: -e BANDIT_ROUTER_MODELS_FILE=
#           /app/examples/models.toml (the example hosted line-up) or your own file mounted in.
#   Postgres: -e BANDIT_ROUTER_DATABASE_URL=postgresql+psycopg://user:pass@host/db
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PATH=/opt/venv/bin:$PATH \
    BANDIT_ROUTER_HOST=0.0.0.0 BANDIT_ROUTER_PORT=8000 \
    BANDIT_ROUTER_DATABASE_URL=sqlite:////data/bandit-router.db

WORKDIR /app
COPY pyproject.toml README.md alembic.ini hatch_build.py ./
COPY src ./src
COPY simulations ./simulations
COPY migrations ./migrations
COPY examples ./examples
# A virtual environment works the same on python:*-slim and on a plain Debian base (whose
# system Python refuses pip installs).
RUN python3 -m venv /opt/venv && pip install --no-cache-dir . \
    && useradd --create-home router && mkdir /data && chown router /data
USER router
VOLUME ["/data"]
EXPOSE 8000
# Asks the port the server was configured with (BANDIT_ROUTER_PORT), through the same settings.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s CMD python3 -c "import sys, \
urllib.request; from bandit_router.config import Settings; \
sys.exit(urllib.request.urlopen(f'http://127.0.0.1:{Settings().port}/readyz', timeout=2).status != 200)"
CMD ["bandit-router", "serve"]
