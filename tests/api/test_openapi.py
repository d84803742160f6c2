"""The OpenAPI document behind /docs: how to authenticate, and which errors each call answers."""

from __future__ import annotations


def test_every_v1_operation_declares_the_bearer_scheme_and_health_needs_none(client):
    doc = client.get("/openapi.json").json()
    scheme = doc["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")  # Swagger UI's Authorize
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            needs_key = path.startswith("/v1/")
            assert (op.get("security") == [{"bearer": []}]) == needs_key, (method, path)


def test_route_documents_the_errors_it_answers_with_their_shape(client):
    responses = client.get("/openapi.json").json()["paths"]["/v1/route"]["post"]["responses"]
    assert {"401", "413", "422", "429", "503"} <= set(responses)
    assert "403" not in responses  # an app key may route
    assert "no model is registered" in responses["503"]["description"]
    for code in ("401", "422", "503"):
        schema = responses[code]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    # …and the error bodies really have that shape.
    body = client.post("/v1/route", json={"prompt": "x"}, headers={"Authorization": "Bearer no"})
    assert body.status_code == 401 and set(body.json()) == {"detail"}


def test_operator_endpoints_document_403_and_resources_404(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert "403" in paths["/v1/models/{model_id}"]["patch"]["responses"]
    assert "404" in paths["/v1/models/{model_id}"]["patch"]["responses"]
    assert "404" not in paths["/v1/models/{model_id}"]["put"]["responses"]  # PUT creates
    assert "409" in paths["/v1/feedback"]["post"]["responses"]
    assert "409" in paths["/v1/tenants"]["post"]["responses"]
    assert paths["/v1/chat/completions"]["post"]["responses"]["401"]["content"][
        "application/json"]["schema"] == {"$ref": "#/components/schemas/OpenAIError"}
