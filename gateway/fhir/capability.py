"""The CapabilityStatement served at GET /fhir/metadata.

It declares what the PAS IntermediaryCapabilities (CapabilityStatement in the IG package) ask
of a payer-side server: Claim $submit and $inquire with their OperationDefinitions, and topic-
based Subscription (backport) on the PAS subscription topic; plus the profiles the gateway
accepts and returns and the pathway Questionnaires it serves.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.fhir import constants as k

SOFTWARE_NAME = "pa-gateway"


OP_SUBSCRIPTION_STATUS = (
    "http://hl7.org/fhir/uv/subscriptions-backport/OperationDefinition/backport-subscription-status"
)
SMART_SECURITY_SERVICE = "http://terminology.hl7.org/CodeSystem/restful-security-service"
EXT_OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def security(token_endpoint: str) -> dict[str, Any]:
    """rest.security: SMART Backend Services (SMART App Launch 2.x, the oauth-uris extension
    names the token endpoint; discovery at [base]/.well-known/smart-configuration)."""
    return {
        "extension": [
            {"url": EXT_OAUTH_URIS, "extension": [{"url": "token", "valueUri": token_endpoint}]}
        ],
        "cors": False,
        "service": [
            {
                "coding": [{"system": SMART_SECURITY_SERVICE, "code": "SMART-on-FHIR"}],
                "text": "SMART Backend Services (client_credentials, private_key_jwt)",
            }
        ],
        "description": "OAuth 2.0 bearer tokens from the token endpoint (SMART Backend "
        "Services: client_credentials with a private_key_jwt assertion signed RS384 or ES384). "
        "Scopes system/Claim.write, system/Claim.read, system/Subscription.write and "
        "system/Subscription.read. Discovery: [base]/.well-known/smart-configuration.",
    }


def capability_statement(
    base_url: str = k.GATEWAY_BASE,
    software_version: str = "0.1.0",
    now: datetime | None = None,
    token_endpoint: str | None = None,
) -> dict[str, Any]:
    """Only what is implemented (issue 14): the two Claim operations, Questionnaire read, and
    Subscription create, read, update, delete and $status; JSON only."""
    pinned = f"|{k.PAS_VERSION}"
    token = token_endpoint or base_url.rsplit("/fhir", 1)[0] + "/auth/token"
    return {
        "resourceType": "CapabilityStatement",
        "id": SOFTWARE_NAME,
        "url": f"{base_url}/metadata",
        "version": software_version,
        "name": "PriorAuthorizationGateway",
        "title": "Oncology prior-authorization gateway (Da Vinci PAS server)",
        "status": "active",
        "experimental": False,
        "date": (now or datetime.now(UTC)).date().isoformat(),
        "publisher": "pa-gateway",
        "description": "PAS 2.2.1 Claim $submit / $inquire and result subscriptions for the "
        "oncology prior-authorization program.",
        "kind": "instance",
        "instantiates": [f"{k.PAS}/CapabilityStatement/IntermediaryCapabilities{pinned}"],
        "software": {"name": SOFTWARE_NAME, "version": software_version},
        "implementation": {"description": "pa-gateway FHIR endpoint", "url": base_url},
        "fhirVersion": k.FHIR_VERSION,
        # XML is not spoken: a request for it is answered 406 (gateway.api.fhir.negotiate).
        "format": ["json", "application/fhir+json"],
        "implementationGuide": [
            f"{k.PAS}/ImplementationGuide/hl7.fhir.us.davinci-pas{pinned}",
            "http://hl7.org/fhir/uv/subscriptions-backport/ImplementationGuide/"
            "hl7.fhir.uv.subscriptions-backport|1.1.0",
        ],
        "rest": [
            {
                "mode": "server",
                "security": security(token),
                "resource": [
                    {
                        "type": "Claim",
                        "supportedProfile": [
                            k.PROFILE_CLAIM + pinned,
                            k.PROFILE_CLAIM_UPDATE + pinned,
                            k.PROFILE_CLAIM_INQUIRY + pinned,
                        ],
                        # Operation names are the codes used in the URL ($submit, $inquire).
                        "operation": [
                            {"name": "submit", "definition": k.OP_SUBMIT + pinned},
                            {"name": "inquire", "definition": k.OP_INQUIRE + pinned},
                        ],
                    },
                    {
                        "type": "ClaimResponse",
                        "supportedProfile": [
                            k.PROFILE_CLAIMRESPONSE + pinned,
                            k.PROFILE_CLAIMINQUIRYRESPONSE + pinned,
                        ],
                    },
                    {
                        "type": "Bundle",
                        "supportedProfile": [
                            k.PROFILE_REQUEST_BUNDLE + pinned,
                            k.PROFILE_RESPONSE_BUNDLE + pinned,
                            k.PROFILE_INQUIRY_REQUEST_BUNDLE + pinned,
                            k.PROFILE_INQUIRY_RESPONSE_BUNDLE + pinned,
                        ],
                        # GET /fhir/Bundle/{case id}: a notification's focus, the case's current
                        # response Bundle.
                        "interaction": [{"code": "read"}],
                    },
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}],
                    },
                    {
                        "extension": [
                            {"url": k.EXT_CAPABILITY_TOPIC, "valueCanonical": k.SUBSCRIPTION_TOPIC}
                        ],
                        "type": "Subscription",
                        "supportedProfile": [
                            k.PROFILE_SUBSCRIPTION + pinned,
                            k.PROFILE_BACKPORT_SUBSCRIPTION,
                        ],
                        "interaction": [
                            {"code": "create"},
                            {"code": "read"},
                            {"code": "update"},
                            {"code": "delete"},
                        ],
                        "operation": [
                            {"name": "status", "definition": OP_SUBSCRIPTION_STATUS},
                        ],
                    },
                ],
            }
        ],
    }
