"""Pathway questionnaires (GET /fhir/Questionnaire/{id}) and QuestionnaireResponse -> facts.

One Questionnaire per pathway family (mappings/pathways/*.yaml name it under `questionnaire:`).
Each item's linkId is the pathway fact it answers, so a QuestionnaireResponse maps back to
ClinicalFacts by linkId alone, whatever family it answers. The answer options are sample
content for the demo pathways, not a clinical reference.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.fhir.constants import GATEWAY_BASE

QR_SOURCE = "pas:QuestionnaireResponse"
CS_FACTS = f"{GATEWAY_BASE}/CodeSystem/pathway-facts"

# family -> (title, cancer_type codes as the pathways name them, histologies, biomarkers)
_FAMILIES: dict[str, tuple[str, list[str], list[str], list[str]]] = {
    "breast": (
        "Breast cancer",
        ["breast"],
        ["invasive ductal carcinoma", "invasive lobular carcinoma", "other"],
        ["BRCA1", "BRCA2", "PIK3CA", "ESR1"],
    ),
    "colorectal": (
        "Colorectal cancer",
        ["colorectal"],
        ["adenocarcinoma", "mucinous adenocarcinoma", "signet ring cell carcinoma", "other"],
        ["KRAS wild-type", "NRAS wild-type", "BRAF V600E", "MSI-H/dMMR", "HER2 amplified"],
    ),
    "lung": (
        "Lung cancer",
        ["lung"],
        ["adenocarcinoma", "squamous cell carcinoma", "large cell carcinoma", "small cell"],
        ["EGFR", "ALK", "ROS1", "KRAS G12C", "PD-L1 >= 50%", "PD-L1 1-49%", "PD-L1 < 1%"],
    ),
    "lymphoma": (
        "Lymphoma",
        ["dlbcl"],
        ["diffuse large B-cell lymphoma", "follicular lymphoma", "other"],
        ["CD20 positive", "MYC rearranged", "BCL2 rearranged"],
    ),
}
_STAGES = ["0", "I", "IA", "IB", "II", "IIA", "IIB", "III", "IIIA", "IIIB", "IIIC", "IV"]
_RECEPTOR = ("her2_status", "er_status", "pr_status")
QUESTIONNAIRE_IDS = tuple(_FAMILIES)


def _coding(code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": CS_FACTS, "code": code, "display": display or code}


def _choice(link_id: str, text: str, options: list[dict[str, Any]], **extra: Any) -> dict:
    return {"linkId": link_id, "text": text, "type": "choice", "answerOption": options, **extra}


def questionnaire(questionnaire_id: str, base_url: str = GATEWAY_BASE) -> dict[str, Any] | None:
    """The pathway Questionnaire for a family (breast, colorectal, lung, lymphoma), or None."""
    family = _FAMILIES.get(questionnaire_id)
    if family is None:
        return None
    title, cancer_types, histologies, biomarkers = family
    items: list[dict[str, Any]] = [
        _choice(
            "cancer_type",
            "Cancer type",
            [{"valueCoding": _coding(code), "initialSelected": True} for code in cancer_types],
            required=True,
        ),
        {
            "linkId": "histology",
            "text": "Histology",
            "type": "open-choice",
            "answerOption": [{"valueString": h} for h in histologies],
        },
        _choice("stage", "Stage (AJCC)", [{"valueString": s} for s in _STAGES]),
        {
            "linkId": "line_of_therapy",
            "text": "Line of therapy (1 = first line)",
            "type": "integer",
        },
        {"linkId": "distant_metastasis", "text": "Distant metastasis present", "type": "boolean"},
        _choice(
            "performance_status",
            "ECOG performance status",
            [{"valueInteger": score} for score in range(5)],
        ),
    ]
    if questionnaire_id == "breast":
        status = [{"valueCoding": _coding(v)} for v in ("positive", "negative")]
        items[2:2] = [
            _choice("her2_status", "HER2 status", status, required=True),
            _choice("er_status", "Estrogen receptor status", status),
            _choice("pr_status", "Progesterone receptor status", status),
        ]
    items.append(
        {
            "linkId": "biomarkers",
            "text": "Genetic alterations / biomarkers found",
            "type": "open-choice",
            "repeats": True,
            "answerOption": [{"valueString": b} for b in biomarkers],
        }
    )
    return {
        "resourceType": "Questionnaire",
        "id": questionnaire_id,
        "url": f"{base_url}/Questionnaire/{questionnaire_id}",
        "version": "1.0.0",
        "name": f"Pathway{questionnaire_id.capitalize()}",
        "title": f"Oncology pathway questions: {title}",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Clinical facts the oncology pathway review decides on (sample content).",
        "item": items,
    }


# -- QuestionnaireResponse -> fact values ---------------------------------------------------

_INT_FACTS = ("line_of_therapy", "performance_status")
_WORDS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
FACT_NAMES = (
    "cancer_type",
    "histology",
    "stage",
    "line_of_therapy",
    *_RECEPTOR,
    "distant_metastasis",
    "performance_status",
    "biomarkers",
)


def facts_from_questionnaire_response(response: dict[str, Any]) -> dict[str, Any]:
    """Fact values by name from a QuestionnaireResponse answering a pathway questionnaire.

    Items are found by linkId (the last dotted part, so `breast.her2_status` works too), at any
    depth; answers are normalised to the types the pathway rules compare with: ints for line of
    therapy and ECOG, a bool for distant metastasis, positive/negative for receptor status and a
    list for biomarkers. Unreadable answers are left out rather than guessed.
    """
    values: dict[str, Any] = {}
    for link_id, answers in _answers(response.get("item")):
        name = re.split(r"[./]", link_id)[-1]
        if name not in FACT_NAMES or not answers:
            continue
        if name == "biomarkers":
            values[name] = [str(a) for a in answers if a not in (None, "")]
            continue
        value = _normalise(name, answers[0])
        if value is not None:
            values[name] = value
    return values


def _answers(items: Any) -> list[tuple[str, list[Any]]]:
    out: list[tuple[str, list[Any]]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        answers = [a for a in item.get("answer") or [] if isinstance(a, dict)]
        if isinstance(item.get("linkId"), str):
            out.append((item["linkId"], [_answer_value(a) for a in answers]))
        out.extend(_answers(item.get("item")))
        for answer in answers:
            out.extend(_answers(answer.get("item")))
    return out


def _answer_value(answer: dict[str, Any]) -> Any:
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding" and isinstance(value, dict):
            return value.get("code") or value.get("display")
        if key == "valueQuantity" and isinstance(value, dict):
            return value.get("value")
        return value
    return None


def _normalise(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name in _INT_FACTS:
        return _as_int(value)
    if name == "distant_metastasis":
        return _as_bool(value)
    if name in _RECEPTOR:
        return _receptor(value)
    text = str(value).strip()
    return text.lower() if name == "cancer_type" else text


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    text = str(value).strip().lower()
    for word, number in _WORDS.items():
        if text.startswith(word):
            return number
    digits = re.search(r"\d+", text)
    return int(digits.group()) if digits else None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("y", "yes", "true", "1", "present", "positive"):
        return True
    if text in ("n", "no", "false", "0", "absent", "negative"):
        return False
    return None


def _receptor(value: Any) -> str | None:
    if isinstance(value, bool):
        return "positive" if value else "negative"
    text = str(value).strip().lower()
    if text in ("positive", "pos", "+", "3+", "amplified"):
        return "positive"
    if text in ("negative", "neg", "-", "0", "1+", "not amplified"):
        return "negative"
    if text in ("equivocal", "2+"):
        return "equivocal"
    return None
