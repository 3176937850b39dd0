"""CAQH CORE connectivity (Connectivity Rule vC2.2.0, issue 16): `envelope` (fields, PayloadTypes,
error codes, checks), the bindings `soap` (SOAP 1.2, with `wsdl`) and `mime` (HTTP MIME
multipart), `service` (the four operations over gateway.x12.realtime) and `batches` (the
core_batches table: submissions and the payloads waiting for retrieval)."""
