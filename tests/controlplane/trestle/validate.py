"""Validates OSCAL JSON documents with compliance-trestle's models of the NIST OSCAL schemas.

Usage: validate.py FILE...  Each file is an OSCAL document (assessment-results or
component-definition, by its top-level key). Prints `FILE: ok <model> <oscal-version>` for
each valid one; on the first invalid one prints trestle's (Pydantic's) errors and exits 1.
"""
import json
import sys

from trestle.oscal.assessment_results import AssessmentResults
from trestle.oscal.component import ComponentDefinition

MODELS = {
    "assessment-results": AssessmentResults,
    "component-definition": ComponentDefinition,
}


def main(paths):
    for path in paths:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
        keys = list(document)
        if len(keys) != 1 or keys[0] not in MODELS:
            print(f"{path}: not one OSCAL model of {sorted(MODELS)}: top-level keys {keys}")
            return 1
        model = MODELS[keys[0]]
        try:
            parsed = model.model_validate(document[keys[0]])
        except Exception as error:  # pydantic.ValidationError, with every failing field
            print(f"{path}: invalid {keys[0]}:\n{error}")
            return 1
        print(f"{path}: ok {keys[0]}, OSCAL {document[keys[0]]['metadata']['oscal-version']}, {type(parsed).__name__}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
