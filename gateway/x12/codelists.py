"""The few ASC X12 code values the runtime itself needs outside the map (element number in
brackets).

Every code list a 278 element is checked against lives in mappings/x12 (the transaction maps
and codes.xml), which both engines load; a payer edits those files, not this module. What stays
here is what the envelope and reader decide before or beside the map walk.
"""

from __future__ import annotations

# ISA05/ISA07 [I05]: the envelope is checked (and written) before any transaction map applies.
ISA_ID_QUALIFIERS = tuple("01 14 20 27 28 29 30 33 ZZ".split())

# HI01-1 [1270] qualifiers of a principal diagnosis: ICD-10-CM ABK, ICD-9-CM BK.
HI_PRINCIPAL = frozenset({"ABK", "BK"})
