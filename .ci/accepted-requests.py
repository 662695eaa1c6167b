#!/usr/bin/env python3
"""Every request the server accepts is valid under its own OpenAPI document.

Sends a set of representative requests that the server must accept (every operation that
takes a body, with every optional field in use, over entities the run creates) to a running
`patchbay serve`, and validates each body against the request schema the document gives for
its operation. A document that refuses what the server accepts (an `allOf` of closed
objects, a field missing from a schema, a wrong type) fails here: generated clients and
validating proxies would reject those requests.

    .ci/accepted-requests.py http://127.0.0.1:8080 pb_key_...

Uses `jsonschema`, which schemathesis installs.
"""

import datetime
import json
import sys
import urllib.parse
import urllib.request

import jsonschema
import referencing
import referencing.jsonschema

addr, key = sys.argv[1], sys.argv[2]
base = "/v1/agents/default/telephony"


def call(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        addr + path,
        data=data,
        method=method,
        headers={"x-api-key": key, "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


with urllib.request.urlopen(addr + "/openapi.json") as response:
    document = json.load(response)
registry = referencing.Registry().with_resource(
    "urn:patchbay", referencing.jsonschema.DRAFT202012.create_resource(document)
)


def schema_of(method, template):
    operation = document["paths"]["/v1/agents/{agentId}/telephony" + template][method.lower()]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    # Resolve `#/components/...` against the whole document.
    return json.loads(json.dumps(schema).replace('"#/components', '"urn:patchbay#/components'))


failures = []


def accepted(method, template, path, body, expect=(200, 201)):
    status, answer = call(method, path, body)
    if status not in expect:
        failures.append(f"{method} {path}: {status} {answer}")
        return answer
    validator = jsonschema.Draft202012Validator(schema_of(method, template), registry=registry)
    for error in validator.iter_errors(body):
        failures.append(
            f"{method} {template}: the server accepted {json.dumps(body)} "
            f"but the document refuses it: {error.message}"
        )
    return answer


live = accepted(
    "POST", "/connectors", base + "/connectors",
    {"name": "Support", "clientEnv": "live", "asrLangCode": "en-US",
     "voiceName": "en-US-Neural2-A", "variantId": "spring", "disableHandoff": True},
)["connectorId"]
other = accepted(
    "POST", "/connectors", base + "/connectors",
    {"name": "Sales", "clientEnv": "live", "asrLangCode": "en-GB", "voiceName": "en-GB-Neural2-B"},
)["connectorId"]
accepted(
    "PATCH", "/connectors/{connectorId}", f"{base}/connectors/{live}",
    {"name": "Support 2", "variantId": None, "asrLangCode": "es-419",
     "voiceName": "es-US-Neural2-A", "disableHandoff": False},
)
accepted(
    "PATCH", "/connectors/batch", base + "/connectors/batch",
    {"updates": [
        {"connectorId": live, "name": "Support 3"},
        {"connectorId": other, "variantId": "autumn", "voiceName": "en-GB-Wavenet-B"},
        {"connectorId": other},
    ]},
)
accepted("POST", "/connectors/batch", base + "/connectors/batch", {"connectorIds": [live, "conn_none"]})
accepted(
    "POST", "/phone-numbers", base + "/phone-numbers",
    {"phoneNumbers": ["+14155552671", "+1 415 555 2672"], "clientEnv": "live", "connectorId": live},
)
accepted("POST", "/phone-numbers", base + "/phone-numbers", {"phoneNumbers": ["+442079460958"]})
accepted("POST", "/phone-numbers/batch", base + "/phone-numbers/batch", {"phoneNumbers": ["+14155552671"]})
accepted(
    "PATCH", "/phone-numbers/{phoneNumber}", base + "/phone-numbers/%2B442079460958",
    {"connectorId": other},
)
accepted(
    "PATCH", "/phone-numbers/{phoneNumber}", base + "/phone-numbers/%2B442079460958",
    {"connectorId": None},
)
accepted("POST", "/connectors/lookup", base + "/connectors/lookup", {"phoneNumber": "tel:+1-415-555-2671"})
accepted(
    "POST", "/number-prefixes", base + "/number-prefixes",
    {"prefixes": ["+44 20 7946 00xx", "+4420794601*", "+44"], "connectorId": live},
)
accepted(
    "PATCH", "/number-prefixes/{prefix}", base + "/number-prefixes/%2B4420794601",
    {"connectorId": other},
)
accepted("POST", "/connectors/lookup", base + "/connectors/lookup", {"phoneNumber": "+442079460001"})
for text in ["+442079460001", "tel:+1-415-555-2671", "not a number", ""]:
    accepted(
        "POST", "/connectors/lookup/explain", base + "/connectors/lookup/explain",
        {"phoneNumber": text},
    )
now = datetime.datetime.now(datetime.timezone.utc).isoformat()
hour_ago = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)).isoformat()
accepted(
    "POST", "/connectors/lookup", base + "/connectors/lookup",
    {"phoneNumber": "+442079460001", "at": now},
)
accepted(
    "POST", "/connectors/lookup/explain", base + "/connectors/lookup/explain",
    {"phoneNumber": "+442079460001", "at": now},
)
# The history's query parameters are the document's, and a query using each is answered.
parameters = {
    p["name"]
    for p in document["paths"]["/v1/agents/{agentId}/telephony/changes"]["get"]["parameters"]
}
for name in ["number", "prefix", "connectorId", "since", "until", "limit", "cursor"]:
    if name not in parameters:
        failures.append(f"GET /changes: the document lacks the query parameter {name}")
status, page = call("GET", f"{base}/changes?limit=1")
status_filtered, _ = call(
    "GET",
    f"{base}/changes?number=%2B442079460958&prefix=%2B44&connectorId={other}"
    f"&since={urllib.parse.quote(hour_ago)}&until={urllib.parse.quote(now)}&limit=5",
)
cursor_status, _ = call("GET", f"{base}/changes?limit=1&cursor={page.get('nextCursor', '')}")
for what, got in [("a page", status), ("every filter", status_filtered), ("a cursor", cursor_status)]:
    if got != 200:
        failures.append(f"GET /changes with {what}: {got}")
accepted("DELETE", "/number-prefixes", base + "/number-prefixes", {"prefixes": ["+4420794600"]})
accepted("DELETE", "/phone-numbers", base + "/phone-numbers", {"phoneNumbers": ["+1 415 555 2672"]})

if failures:
    print("accepted-requests: the document refuses requests the server accepts:", file=sys.stderr)
    for failure in failures:
        print("  " + failure, file=sys.stderr)
    sys.exit(1)
print("accepted-requests: every accepted request is valid under the document")
