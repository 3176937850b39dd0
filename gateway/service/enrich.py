"""Completing a new case from the payer's files before review: the program a request belongs
to, the member's address on file, the drugs' names."""

from __future__ import annotations

from gateway.domain.case import Case, Program
from gateway.domain.ports import Ports


def program_for(case: Case, ports: Ports) -> Program:
    """A request of supportive drugs only is a supportive (SPORT) request."""
    if case.program is not Program.CHEMO:
        return case.program
    drugs = [ports.tables.drugs.get(line.code.upper()) for line in case.active_lines]
    if drugs and all(drug is not None and drug.drug_class == "supportive" for drug in drugs):
        return Program.SPORT
    return case.program


def address_on_file(case: Case, ports: Ports) -> None:
    """Member letters go to the address the payer has on file when the request carries none
    (DOMAIN.md: the member receives a letter by mail)."""
    if case.member.address is None:
        enrollment = ports.eligibility.enrollment(case.member.member_id)
        if enrollment is not None and enrollment.address is not None:
            case.member.address = enrollment.address


def drug_names(case: Case, ports: Ports) -> None:
    """Letters name the drugs: a line sent with a code only gets the drug table's name."""
    for line in case.service_lines:
        drug = ports.tables.drugs.get(line.code.upper())
        if line.description is None and drug is not None:
            line.description = drug.name
