"""Derive tests/data/tbank_answers.json from T-Bank's published OpenAPI description.

    python tests/data/derive_tbank_answers.py ../shared/specs/tbank-openapi-1.80.json

For every ``/v2/<Method>`` the sandbox serves: the answer's required fields and each field's
JSON type, in a small format of our own (the tests check the sandbox's answers with it; the
description itself is not copied).
"""

import json
import sys
from pathlib import Path

from autopay_soap.sandbox.tbank import TBANK_METHODS


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text("utf-8"))
    schemas = spec["components"]["schemas"]

    def resolve(node):
        while "$ref" in node:
            node = schemas[node["$ref"].rsplit("/", 1)[-1]]
        return node

    out = {"source": f"{Path(spec_path).name} (info.version {spec['info']['version']})", "methods": {}}
    for method in TBANK_METHODS:
        path = spec["paths"].get(f"/v2/{method}")
        if path is None:
            continue
        schema = resolve(path["post"]["responses"]["200"]["content"]["application/json"]["schema"])
        array = schema.get("type") == "array"
        if array:
            schema = resolve(schema["items"])
        if "oneOf" in schema:  # FinishAuthorize: the union of its variants' fields, none required
            props = {}
            for variant in schema["oneOf"]:
                props.update(resolve(variant).get("properties", {}))
            required = []
        else:
            props, required = schema.get("properties", {}), schema.get("required", [])
        out["methods"][method] = {
            "array": array,
            "required": sorted(required),
            "types": {name: resolve(prop).get("type", "any") for name, prop in sorted(props.items())},
        }
    target = Path(__file__).with_name("tbank_answers.json")
    target.write_text(json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"{len(out['methods'])} methods written to {target}")


if __name__ == "__main__":
    main(sys.argv[1])
