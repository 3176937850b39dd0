"""X12 278 (005010X217) channel: tokenizer, envelope, map-driven validator, reader, writer,
TA1/999 and the intake orchestrator.

Entry points: `gateway.x12.intake.answer_interchange` (one interchange in, the answer out),
`gateway.x12.intake.read_batch` (stream a batch file), `gateway.x12.numbers.ControlNumbers`.
"""
