"""Completing a new case from the payer's files before review: the program a request belongs
to, the member's address on file, the drugs' names."""

from __future__ import annotations

from gateway.domain.case import Case, Program
from gateway.domain.criteria import PROGRAM_OF_SERVICE, complete_lines
from gateway.domain.ports import Ports


def program_for(case: Case, ports: Ports) -> Program:
    """A request of supportive drugs only is a supportive (SPORT) request; one whose every
    code a coverage-criteria program serves (home health, DME, sleep) is that program's."""
    if case.program is not Program.CHEMO:
        return case.program
    codes = [line.code for line in case.active_lines]
    for program in ports.programs.values():
        if case.payer_id and case.payer_id != program.payer_id:
            continue
        served = program.program_for(codes)
        if served is not None:
            return served
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
    """Letters name the drugs, equipment and services: a line sent with a code only gets the
    drug table's or the program's item name."""
    for line in case.service_lines:
        if line.description is not None:
            continue
        drug = ports.tables.drugs.get(line.code.upper())
        if drug is not None:
            line.description = drug.name
            continue
        for program in ports.programs.values():
            item = program.items.get(line.code.upper())
            if item is not None:
                line.description = item.description
                break


def home_care_lines(case: Case, ports: Ports) -> None:
    """A home health, DME or sleep request's lines carry rental or purchase, months, visits and
    the discipline alike from both channels (gateway.domain.criteria.complete_lines)."""
    if case.program not in PROGRAM_OF_SERVICE.values():
        return
    for program in ports.programs.values():
        if not case.payer_id or case.payer_id == program.payer_id:
            complete_lines(case, program)
            return
