"""An app can install the client light: importing it loads pydantic and httpx, no server stack."""

from __future__ import annotations

import json
import subprocess
import sys

SERVER_STACK = ("sqlalchemy", "fastapi", "starlette", "numpy", "scipy", "psycopg", "alembic",
                "uvicorn", "prometheus_client")


def test_importing_the_client_loads_neither_the_database_nor_the_web_stack_nor_numpy():
    code = ("import json, sys; import bandit_router.client; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    loaded = set(json.loads(out.stdout))
    assert {"httpx", "pydantic"} <= loaded
    assert loaded.isdisjoint(SERVER_STACK), sorted(loaded & set(SERVER_STACK))
