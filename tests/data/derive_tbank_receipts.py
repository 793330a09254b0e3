"""Derive tests/data/tbank_receipts.json from T-Bank's published OpenAPI description.

    python tests/data/derive_tbank_receipts.py ../shared/specs/tbank-openapi-1.80.json

The ``Receipt`` objects (FFD 1.05 and 1.2) and their ``Items``: each field's JSON type, its
allowed values and its length limit, and which fields are required, in a small format of our
own (tests/core/test_receipts.py checks what autopay_soap sends with it; the description itself is
not copied).
"""

import json
import sys
from pathlib import Path

SCHEMAS = {"receipt_1.05": "Receipt_FFD_105", "receipt_1.2": "Receipt_FFD_12", "items_1.05": "Items_FFD_105",
           "items_1.2": "Items_FFD_12"}


def main(spec_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text("utf-8"))
    schemas = spec["components"]["schemas"]
    out = {"source": f"{Path(spec_path).name} (info.version {spec['info']['version']})", "schemas": {}}
    for key, name in SCHEMAS.items():
        schema = schemas[name]
        fields = {}
        for field, prop in sorted(schema.get("properties", {}).items()):
            if "$ref" in prop and "type" not in prop:
                prop = schemas[prop["$ref"].rsplit("/", 1)[-1]]
            fields[field] = {k: prop[k] for k in ("type", "enum", "maxLength") if k in prop}
        out["schemas"][key] = {"required": sorted(schema.get("required", [])), "fields": fields}
    target = Path(__file__).with_name("tbank_receipts.json")
    target.write_text(json.dumps(out, ensure_ascii=False, indent=1, sort_keys=True) + "\n", "utf-8")
    print(f"{len(out['schemas'])} schemas written to {target}")


if __name__ == "__main__":
    main(sys.argv[1])
