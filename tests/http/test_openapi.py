"""The OpenAPI 3.1 document comes from main's signature and docstring, served beside the endpoint."""

import pytest

from tests.http.envelopes import strict_json

ERROR_CODES = {"400", "404", "413", "415", "500"}


@pytest.fixture
def document(typed_client):
    answer = typed_client.get("/api/openapi.json")
    assert answer.status_code == 200 and answer.mimetype == "application/json"
    return strict_json(answer)


def resolve(document, ref):
    node = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return node


def refs_in(node):
    if isinstance(node, dict):
        if "$ref" in node:
            yield node["$ref"]
        for value in node.values():
            yield from refs_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs_in(value)


def test_the_document_is_openapi_3_1_titled_by_the_task_class(document):
    assert document["openapi"] == "3.1.0"
    assert document["info"]["title"] == "Typed" and document["info"]["version"]
    assert document["info"]["summary"] == "Score ``text``."
    assert document["info"]["description"] == "Repeats the text and measures it."


def test_it_describes_submit_and_status_with_their_error_answers(document):
    operations = document["paths"]["/api"]
    assert set(operations) == {"post", "get"}
    for operation in operations.values():
        assert operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/Envelope"
        )
        assert ERROR_CODES <= set(operation["responses"])
    assert operations["get"]["parameters"][0]["name"] == "task_id"
    assert operations["post"]["requestBody"]["required"] is True


def test_every_reference_resolves(document):
    refs = set(refs_in(document))
    assert refs and all(resolve(document, ref) for ref in refs)


def test_the_params_schema_comes_from_the_signature_and_the_docstring(document):
    params = document["components"]["schemas"]["Params"]
    assert params["required"] == ["text"] and params["additionalProperties"] is False
    assert params["properties"]["text"] == {"type": "string", "description": "the text to score."}
    assert params["properties"]["times"] == {
        "type": "integer",
        "default": 1,
        "description": "how often to repeat it, at least once.",
        "minimum": -(2**63),  # what the server accepts: a schema-valid request is never refused
        "maximum": 2**63 - 1,
    }
    assert params["properties"]["mode"] == {"enum": ["fast", "slow"], "default": "fast"}
    assert "logger" not in params["properties"]


def test_a_submission_may_carry_a_task_id_or_be_a_rerun_by_task_id_alone(document):
    data = document["components"]["schemas"]["SubmitRequest"]["properties"]["data"]["anyOf"]
    assert "task_id" in data[0]["properties"] and data[0]["required"] == ["text"]
    assert data[1]["required"] == ["task_id"]


def test_the_envelopes_and_the_task_detail_are_described(document):
    schemas = document["components"]["schemas"]
    assert schemas["Envelope"]["properties"]["status"] == {"const": "ok"}
    assert schemas["ErrorEnvelope"]["properties"]["status"] == {"const": "error"}
    assert set(schemas["Envelope"]["required"]) == {"status", "data", "error_data", "error_msg"}
    assert {"task_id", "status", "result", "error", "create_time", "attempt"} <= set(
        schemas["TaskDetail"]["properties"]
    )


def test_a_main_without_docstring_or_hints_gets_a_plain_document(tmp_path, executor):
    from asynctask import InMemoryTaskRepository
    from tests.http.apps import Untyped

    service = Untyped(logger_dir=tmp_path, repository=InMemoryTaskRepository(), executor=executor)
    document = strict_json(service.app("/u").test_client().get("/u/openapi.json"))
    assert document["info"]["summary"] == "Run Untyped.main"
    any_value = {"$ref": "#/components/schemas/JsonValue"}  # any JSON value, with the server's integer limits
    assert document["components"]["schemas"]["Params"]["properties"] == {
        "a": any_value,
        "b": {**any_value, "default": 2},
    }


def test_the_document_is_a_valid_openapi_3_1_document(document):
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


def test_the_integer_limits_the_document_declares_are_the_ones_the_server_enforces(document, typed_client):
    times = document["components"]["schemas"]["Params"]["properties"]["times"]
    at_limit = typed_client.post("/api", json={"data": {"text": "a", "times": times["maximum"]}})
    beyond = typed_client.post("/api", json={"data": {"text": "a", "times": times["maximum"] + 1}})
    below = typed_client.post("/api", json={"data": {"text": "a", "times": times["minimum"] - 1}})
    ratio = document["components"]["schemas"]["Params"]["properties"]["ratio"]
    huge_ratio = typed_client.post("/api", json={"data": {"text": "a", "ratio": ratio["maximum"] * 10.0}})
    assert at_limit.status_code == 200
    assert beyond.status_code == below.status_code == huge_ratio.status_code == 400


def test_values_of_any_type_are_declared_with_the_same_integer_limits(document):
    any_value = document["components"]["schemas"]["JsonValue"]
    assert any_value["then"] == {"minimum": -(2**63), "maximum": 2**63 - 1}
    assert (
        any_value["items"] == any_value["additionalProperties"] == {"$ref": "#/components/schemas/JsonValue"}
    )
