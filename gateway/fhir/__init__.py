"""Da Vinci PAS 2.2.1 channel: request bundles in, response bundles out (FHIR R4 as dicts).

- reader: PAS request Bundle -> Case (read_case, read_inquiry)
- profile: PAS profile rules and R4B structure checks -> issues (validate_request, ...)
- structure: R4B structure through fhir.resources, entries already seen valid not parsed again
- memo: what depends on a resource's content alone (validity, References), by its digest
- outcome: issues -> OperationOutcome
- writer: (Case, Determination, request) -> PAS response Bundle; $inquire bundle/Parameters
- capability, questionnaire, subscription: metadata, pathway questionnaires, backport
  subscriptions and their notification bundles
"""
