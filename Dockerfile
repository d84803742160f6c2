# bandit-router service image. Build: docker build -t bandit-router .
# Run (embedded SQLite in /data): docker run -p 8000:8000 -v br-data:/data bandit-router
# Run on Postgres: add -e BANDIT_ROUTER_DATABASE_URL=postgresql+psycopg://user:pass@host/db
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    BANDIT_ROUTER_HOST=0.0.0.0 BANDIT_ROUTER_PORT=8000 \
    BANDIT_ROUTER_DATABASE_URL=sqlite:////data/bandit-router.db \
    BANDIT_ROUTER_MODELS_FILE=/app/examples/models.toml

WORKDIR /app
COPY pyproject.toml README.md alembic.ini ./
COPY src ./src
COPY simulations ./simulations
COPY migrations ./migrations
COPY examples ./examples
RUN pip install --no-cache-dir . && useradd --create-home router && mkdir /data \
    && chown router /data
USER router
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s CMD python -c "import urllib.request,sys; \
sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz').status != 200)"
CMD ["bandit-router", "serve"]
