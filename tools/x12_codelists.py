"""Code values of ASC X12 005010 / 005010X217 that tools/x12_mapgen.py writes into a fresh map.

These are facts of the standard and the implementation guide (element number in brackets), as
the map was first authored. The runtime never reads this module: it loads mappings/x12, which is
the source of truth once written (a payer's edits there are kept; see x12_mapgen.py --help).
"""

from __future__ import annotations

import sys
from pathlib import Path

try:
    from gateway.x12.codelists import ISA_ID_QUALIFIERS  # noqa: F401 - the envelope's own
except ModuleNotFoundError:  # run from a checkout without installing: the repository root
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from gateway.x12.codelists import ISA_ID_QUALIFIERS  # noqa: F401 - the envelope's own


def _codes(text: str) -> tuple[str, ...]:
    return tuple(text.split())


TA1_NOTE_CODES = tuple(f"{n:03d}" for n in range(32))  # [I18] 000-031

# Interchange note codes the gateway writes in TA105 (X12 I18).
TA1_NOTES = {
    "000": "No error",
    "001": "The Interchange Control Number in the Header and Trailer Do Not Match",
    "004": "The Segment Terminator is Invalid",
    "005": "Invalid Interchange ID Qualifier for Sender",
    "006": "Invalid Interchange Sender ID",
    "007": "Invalid Interchange ID Qualifier for Receiver",
    "008": "Invalid Interchange Receiver ID",
    "010": "Invalid Authorization Information Qualifier Value",
    "011": "Invalid Authorization Information Value",
    "012": "Invalid Security Information Qualifier Value",
    "013": "Invalid Security Information Value",
    "014": "Invalid Interchange Date Value",
    "015": "Invalid Interchange Time Value",
    "016": "Invalid Interchange Standards Identifier Value",
    "017": "Invalid Interchange Version ID Value",
    "018": "Invalid Interchange Control Number Value",
    "019": "Invalid Acknowledgment Requested Value",
    "020": "Invalid Test Indicator Value",
    "021": "Invalid Number of Included Groups Value",
    "022": "Invalid Control Structure",
    "023": "Improper (Premature) End-of-File (Transmission)",
    "024": "Invalid Interchange Content (e.g., Invalid GS Segment)",
    "026": "Invalid Data Element Separator",
    "027": "Invalid Component Element Separator",
}

PER_QUALIFIERS = _codes("EM EX FX TE")  # [365]
PRV_PROVIDER_CODES = _codes("AD AS AT CO CV OP OR OT PC PE RF")  # [1221]
AAA04_FOLLOW_UP = _codes("C N R S W X Y")  # [889]

# AAA03 reject reasons [901], per loop of the 278 response.
AAA03_HEADER = _codes("04 41 42 79")
AAA03_UMO = _codes("04 41 42 79 80 T4")
AAA03_REQUESTER = _codes("15 33 41 43 44 45 46 47 49 51 79 97")
AAA03_MEMBER = _codes("15 33 35 42 56 57 58 60 61 62 63 64 65 66 67 68 71 72 73 74 75 76 77 78 95")
AAA03_EVENT = _codes("15 33 52 53 56 57 60 61 62 63 69 70 AF AG AO CI E8 IA MA T5")
AAA03_PROVIDER = _codes("15 33 35 41 43 44 45 46 47 49 51 52 79 97")
AAA03_SERVICE = _codes("15 33 52 57 60 61 62 63 69 70 AF AG AO CI E8 IA MA T5")

DEPENDENT_RELATIONSHIP = _codes("01 19 20 21 39 40 53 G8")  # [1069]
UM01_CATEGORIES = _codes("AR HS SC")  # [1525] admission, health services, specialty care
UM01_SERVICE = _codes("HS SC")
UM02_CERTIFICATION_TYPES = _codes("1 2 3 4 I S")  # [1322] appeals, cancel, extension, initial
UM06_LEVEL_OF_SERVICE = _codes("03 E U")  # [1338] emergency, elective, urgent
PROGNOSIS_CODES = _codes("1 2 3 4 5 6 7 8")  # [923]
RELEASE_OF_INFORMATION = _codes("A I M N O Y")  # [1363]
HCR01_EVENT = _codes("A1 A2 A3 A4 A6 C CT NA")  # [306]
HCR01_SERVICE = _codes("A1 A3 A4 A6 C CT NA")

# DTP01 [374]: accident, last menstrual period, estimated birth, onset, event, admission,
# discharge; the response adds certification issue (102), expiration (036), effective (007).
DTP_EVENT_REQUEST = _codes("439 484 ABC 431 AAH 435 096")
DTP_EVENT_RESPONSE = DTP_EVENT_REQUEST + _codes("102 036 007")
DTP_SERVICE_RESPONSE = _codes("472 102 036 007")

# HI01-1 [1270]: ICD-10-CM (AB*) and ICD-9-CM (B*) principal, other, admitting, reason for
# visit, external cause; DRG.
HI_DIAGNOSIS_FIRST = _codes("ABF ABJ ABK ABN APR BF BJ BK BN DR PR")
HI_DIAGNOSIS_OTHER = _codes("ABF ABJ ABN APR BF BJ BN DR PR")

HSD01_QUANTITY = _codes("DY FL HS MN VS")  # [673]
HSD03_UNITS = _codes("DA MO WK")  # [355]
HSD05_PERIODS = _codes("6 7 21 26 27 34 35")  # [615]
HSD07_PATTERNS = _codes(
    "1 2 3 4 5 6 7 8 9 A B C D E F G H J K L M N O P Q R S SA SB SC SD SG SL SP SX SY SZ "
    "T U V W X Y"
)  # [678]
HSD08_TIMES = _codes("A B C D E F G Y")  # [679]
CRC01_CATEGORIES = _codes("07 08 09 11 75 76 77 ZZ")  # [1136]
CRC_CONDITIONS = _codes(
    "01 02 03 04 05 06 07 08 09 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 30 31 "
    "35 37 38 39 40 41 42 43 44 45 46 60 9D 9H 9J 9K IH LB SL"
)  # [1321]
CL101_ADMISSION_TYPES = _codes("1 2 3 4 5 9")  # [1315]
CL102_ADMISSION_SOURCES = _codes("1 2 4 5 6 8 9 D E F G")  # [1314]
CL103_PATIENT_STATUS = _codes(
    "01 02 03 04 05 06 07 09 20 21 30 40 41 42 43 50 51 61 62 63 64 65 66 69 70"
)  # [1352]
PWK01_REPORT_TYPES = _codes(
    "03 04 05 06 07 08 09 10 11 13 15 21 48 55 59 77 A3 A4 AM AS AT B2 B3 BR BS BT CB CK D2 "
    "DA DB DG DJ DS FM HC HR I5 IR LA M1 NN OB OC OD OE OX P4 P5 P6 P7 PE PN PO PQ PY PZ QC "
    "QR RB RR RT RX SG V5 XP"
)  # [755]
PWK02_TRANSMISSION = _codes("AA BM EL EM FT FX VO")  # [756]
SERVICE_ID_QUALIFIERS = _codes("ER HC IV N4 WK ZZ")  # [235] HC = HCPCS/CPT

EVENT_PROVIDER_ENTITIES = _codes("71 72 73 77 AAJ DD DK DN FA G3 P3 QB QV SJ")  # [98]
CONTACT_ENTITIES = _codes("2B ABG PR X3")
TRANSPORT_ENTITIES = _codes("45 FS ND PW R3")
REQUESTER_ENTITIES = _codes("1P FA")
PROVIDER_ID_QUALIFIERS = _codes("24 34 46 XX")  # [66] EIN, SSN, ETIN, NPI
UMO_ID_QUALIFIERS = _codes("24 46 NI PI XV XX")
PROVIDER_REF_QUALIFIERS = _codes("0B 1G 1J EI G5 N5 N7 SY ZH")  # [128]
SUBSCRIBER_REF_QUALIFIERS = _codes("3H 6P EJ HJ IG N6 NQ SY")
DEPENDENT_REF_QUALIFIERS = _codes("EJ SY")

STATES = _codes(
    "AA AE AK AL AP AR AS AZ CA CO CT DC DE FL FM GA GU HI IA ID IL IN KS KY LA MA MD ME MH MI "
    "MN MO MP MS MT NC ND NE NH NJ NM NV NY OH OK OR PA PR PW RI SC SD TN TX UT VA VI VT WA WI "
    "WV WY AB BC MB NB NL NS NT NU ON PE QC SK YT"
)

SERVICE_TYPES = _codes(  # [1365] service type codes; 78 = chemotherapy
    "1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 30 32 33 34 "
    "35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 "
    "64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90 91 92 "
    "93 94 95 96 97 98 99 A0 A1 A2 A3 A4 A5 A6 A7 A8 A9 AA AB AC AD AE AF AG AH AI AJ AK AL AM "
    "AN AO AQ AR B1 B2 B3 BA BB BC BD BE BF BG BH BI BJ BK BL BM BN BP BQ BR BS BT BU BV BW BX "
    "BY BZ C1 CA CB CC CD CE CF CG CH CI CJ CK CL CM CN CO CP CQ DG DM DS GF GN GY IC MH NI ON "
    "PT PU RN RT TC TN UC"
)

# HCR03 [1271] draws on code source 886 (Health Care Services Review Decision Reason Codes).
# The list holds the codes this gateway first shipped; a payer adds codes in codes.xml.
HCR03_REASONS = _codes("0U")

EXTERNAL_CODESETS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "states": ("US State or Province Codes", "156", STATES),
    "service_types": ("Service Type Codes", "1365", SERVICE_TYPES),
    "hcr03": (
        "Health Care Services Review Decision Reason Codes (886) used here",
        "1271",
        HCR03_REASONS,
    ),
}
