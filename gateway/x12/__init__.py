"""X12 278 (005010X217) channel: tokenizer, envelope, map-driven validator, reader, writer,
TA1/999 and the one answering engine (gateway.x12.engine: real-time and batch policies).

Entry points: `gateway.x12.intake.answer_interchange` (one real-time interchange in, the answer
out), `gateway.x12.engine.answer_batch` (a batch file of any size, streamed),
`gateway.x12.numbers.ControlNumbers`.
"""
