"""Canonical URLs and code systems of Da Vinci PAS 2.2.1 (hl7.fhir.us.davinci-pas package).

Every URL here is copied from the IG package's StructureDefinitions, OperationDefinitions and the
subscription topic (Basic-PASSubscriptionTopic.json), so that the reader, the profile rules and
the writer agree on one spelling.
"""

from __future__ import annotations

PAS_VERSION = "2.2.1"
FHIR_VERSION = "4.0.1"
PAS = "http://hl7.org/fhir/us/davinci-pas"
SD = f"{PAS}/StructureDefinition/"

# Profiles
PROFILE_REQUEST_BUNDLE = f"{SD}profile-pas-request-bundle"
PROFILE_RESPONSE_BUNDLE = f"{SD}profile-pas-response-bundle"
PROFILE_INQUIRY_REQUEST_BUNDLE = f"{SD}profile-pas-inquiry-request-bundle"
PROFILE_INQUIRY_RESPONSE_BUNDLE = f"{SD}profile-pas-inquiry-response-bundle"
PROFILE_CLAIM = f"{SD}profile-claim"
PROFILE_CLAIM_UPDATE = f"{SD}profile-claim-update"
PROFILE_CLAIM_INQUIRY = f"{SD}profile-claim-inquiry"
PROFILE_CLAIMRESPONSE = f"{SD}profile-claimresponse"
PROFILE_CLAIMINQUIRYRESPONSE = f"{SD}profile-claiminquiryresponse"
PROFILE_SUBSCRIPTION = f"{SD}profile-subscription"

# Operations and the subscription topic
OP_SUBMIT = f"{PAS}/OperationDefinition/Claim-submit"
OP_INQUIRE = f"{PAS}/OperationDefinition/Claim-inquiry"
SUBSCRIPTION_TOPIC = f"{PAS}/SubscriptionTopic/PASSubscriptionTopic"

# Extensions (StructureDefinition-extension-*.json)
EXT_LEVEL_OF_SERVICE = f"{SD}extension-levelOfServiceCode"
EXT_TRANSMISSION_IDS = f"{SD}extension-TransmissionIdentifiers"
EXT_CERTIFICATION_TYPE = f"{SD}extension-certificationType"
EXT_REQUEST_TYPE = f"{SD}extension-serviceItemRequestType"
EXT_ITEM_TRACE_NUMBER = f"{SD}extension-itemTraceNumber"
EXT_AUTHORIZATION_NUMBER = f"{SD}extension-authorizationNumber"
EXT_ADMIN_REFERENCE_NUMBER = f"{SD}extension-administrationReferenceNumber"
EXT_REQUESTED_SERVICE = f"{SD}extension-requestedService"
EXT_INFO_CHANGED = f"{SD}extension-infoChanged"
EXT_INFO_CANCELLED = f"{SD}modifierextension-infoCancelled"
EXT_CARE_TEAM_SCOPE = f"{SD}extension-careTeamClaimScope"
EXT_DOCUMENT_INFORMATION = f"{SD}extension-documentInformation"
EXT_DIAGNOSIS_RECORDED_DATE = f"{SD}extension-diagnosisRecordedDate"
EXT_REVIEW_ACTION = f"{SD}extension-reviewAction"
EXT_REVIEW_ACTION_CODE = f"{SD}extension-reviewActionCode"
EXT_ITEM_PREAUTH_PERIOD = f"{SD}extension-itemPreAuthPeriod"
EXT_ITEM_PREAUTH_ISSUE_DATE = f"{SD}extension-itemPreAuthIssueDate"
EXT_ITEM_REQUESTED_SERVICE_DATE = f"{SD}extension-itemRequestedServiceDate"
EXT_ITEM_AUTHORIZED_DETAIL = f"{SD}extension-itemAuthorizedDetail"
EXT_ERROR_FOLLOWUP = f"{SD}extension-errorFollowupAction"
EXT_ERROR_ELEMENT = f"{SD}extension-errorElement"
EXT_ERROR_PATH = f"{SD}extension-errorPath"
EXT_REVIEWER = f"{SD}extension-claimResponseReviewer"
EXT_HOME_HEALTH = f"{SD}extension-homeHealthCareInformation"

# Subscriptions backport (hl7.fhir.uv.subscriptions-backport.r4 1.1.0, a PAS dependency)
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
EXT_BACKPORT_FILTER = f"{BACKPORT}backport-filter-criteria"
EXT_BACKPORT_PAYLOAD = f"{BACKPORT}backport-payload-content"
EXT_BACKPORT_TIMEOUT = f"{BACKPORT}backport-timeout"
EXT_BACKPORT_MAX_COUNT = f"{BACKPORT}backport-max-count"
EXT_CAPABILITY_TOPIC = f"{BACKPORT}capabilitystatement-subscriptiontopic-canonical"
PROFILE_BACKPORT_SUBSCRIPTION = f"{BACKPORT}backport-subscription"
PROFILE_BACKPORT_STATUS = f"{BACKPORT}backport-subscription-status-r4"
PROFILE_BACKPORT_NOTIFICATION = f"{BACKPORT}backport-subscription-notification-r4"

# Code systems
CS_PAS_TEMP = f"{PAS}/CodeSystem/PASTempCodes"
CS_X12_306 = "https://codesystem.x12.org/005010/306"  # review action (HCR01)
CS_X12_886 = "https://codesystem.x12.org/external/886"  # review decision reason (HCR03)
CS_X12_901 = "https://codesystem.x12.org/005010/901"  # reject reason (AAA03)
CS_X12_889 = "https://codesystem.x12.org/005010/889"  # follow-up action (AAA04)
CS_X12_1322 = "https://codesystem.x12.org/005010/1322"  # certification type (UM02)
CS_X12_1338 = "https://codesystem.x12.org/005010/1338"  # level of service (UM06)
CS_X12_1365 = "https://codesystem.x12.org/005010/1365"  # service type (UM03)
CS_X12_1525 = "https://codesystem.x12.org/005010/1525"  # request category (UM01)
CS_X12_98 = "https://codesystem.x12.org/005010/98"  # entity identifier (NM101)
CS_X12_1069 = "https://codesystem.x12.org/005010/1069"  # individual relationship (INS02)
CS_X12_673 = "https://codesystem.x12.org/005010/673"  # quantity qualifier (HSD01)
CS_X12_755 = "https://codesystem.x12.org/005010/755"  # report type (PWK01)
CS_X12_756 = "https://codesystem.x12.org/005010/756"  # transmission (PWK02)
CS_POS = "https://www.cms.gov/Medicare/Coding/place-of-service-codes/Place_of_Service_Code_Set"
CS_HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
CS_CPT = "http://www.ama-assn.org/go/cpt"
CS_ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
CS_NPI = "http://hl7.org/fhir/sid/us-npi"
# The PAS organization profile slices TIN on USEIN; us-ein is the FHIR-registered twin.
CS_TIN = ("http://terminology.hl7.org/NamingSystem/USEIN", "http://hl7.org/fhir/sid/us-ein")
CS_C4BB_IDENTIFIER_TYPE = "http://hl7.org/fhir/us/carin-bb/CodeSystem/C4BBIdentifierType"
CS_V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CS_CLAIM_TYPE = "http://terminology.hl7.org/CodeSystem/claim-type"
CS_ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"
CS_PROCESS_PRIORITY = "http://terminology.hl7.org/CodeSystem/processpriority"
CS_SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
CS_LOINC = "http://loinc.org"

# The gateway's own identifier systems (a payer deploying it replaces the host name).
GATEWAY_BASE = "https://pa-gateway.example.org/fhir"
CASE_ID_SYSTEM = "https://pa-gateway.example.org/fhir/sid/case-id"
