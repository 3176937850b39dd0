"""Example request bodies for the API documentation (gateway/api/docs.py): the demo requests in
samples/ where there is one, else a small synthetic resource written here."""

from __future__ import annotations

from gateway.api.responses import sample_json

# Example bodies for the documentation: the demo requests in samples/pas/.
SUBMIT_EXAMPLES = {
    "ddact": {
        "summary": "AC-T (ddAC then paclitaxel), HER2-negative breast cancer: approved (A1)",
        "value": sample_json("pas/ddact-her2neg.json"),
    },
    "tc": {
        "summary": "TC (docetaxel, cyclophosphamide), HER2-negative: approved (A1)",
        "value": sample_json("pas/tc-her2neg.json"),
    },
    "questionnaire": {
        "summary": "AC-T with the facts in a QuestionnaireResponse",
        "value": sample_json("pas/ddact-questionnaire.json"),
    },
}
INQUIRE_EXAMPLE = {
    "resourceType": "Bundle",
    "type": "collection",
    "entry": [
        {
            "fullUrl": "urn:uuid:inquiry-claim",
            "resource": {
                "resourceType": "Claim",
                "identifier": [{"system": "urn:demo:claim", "value": "ACTDD0001"}],
                "status": "active",
                "use": "preauthorization",
                "patient": {"reference": "urn:uuid:patient"},
                "provider": {"reference": "urn:uuid:provider"},
            },
        },
        {
            "fullUrl": "urn:uuid:patient",
            "resource": {
                "resourceType": "Patient",
                "identifier": [{"system": "urn:demo:member", "value": "U1234567801"}],
            },
        },
        {
            "fullUrl": "urn:uuid:provider",
            "resource": {
                "resourceType": "Practitioner",
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}],
            },
        },
    ],
}
SUBSCRIPTION_EXAMPLE = {
    "resourceType": "Subscription",
    "status": "requested",
    "reason": "PAS determinations for our organization",
    "criteria": "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
    "_criteria": {
        "extension": [
            {
                "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                "backport-filter-criteria",
                "valueString": "org-identifier=1234567893",
            }
        ]
    },
    "channel": {
        "type": "rest-hook",
        "endpoint": "https://ehr.example.org/pas/notifications",
        "payload": "application/fhir+json",
        "_payload": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
                    "backport-payload-content",
                    "valueCode": "full-resource",
                }
            ]
        },
    },
}
