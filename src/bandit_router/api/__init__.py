"""HTTP edge: FastAPI app factory, one router module per resource."""
