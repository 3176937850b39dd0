"""The words of each letter, one Jinja2 template per kind (DESIGN.md decision 6).

Templates produce light markup that `letters.py` lays out: "# " a title, "## " a heading, "- " a
bullet, a blank line between paragraphs. They use only the case, the determination and the
recipient: no text here states a clinical or coverage rule of its own, except the program rules
DOMAIN.md gives (hold: decided on the original submission; reconsideration before an appeal).
`to_member` switches the few sentences that differ for the member's copy.
"""

from __future__ import annotations

APPROVAL = """\
# Prior authorization approved
{% if to_member %}Your doctor asked us to approve the treatment below. It has been approved.
{% else %}The request for the treatment below has been approved.{% endif %}

## Authorization
- Authorization number: {{ d.auth_number or "see each service below" }}
- Approved from {{ d.period_start | day }} through {{ d.period_end | day }}
- Site of care: {{ site }}
{% if d.status == "modified" %}

The approval differs from what was asked: the services table shows what was approved.
{% endif %}

Approval is not a guarantee of payment: the member must be enrolled and eligible on the date of \
service, and the plan's benefits apply. A change to the approved regimen needs a new authorization \
from the date of the change.
"""

PARTIAL_APPROVAL = """\
# Prior authorization partially approved
Some of the services requested are approved and some are not; the services table shows which.

## Approved
{% for line in services if line.approved %}
- {{ line.code }} {{ line.description }}: authorization {{ line.auth_number or d.auth_number \
or "-" }}, {{ line.period }}
{% else %}
- none
{% endfor %}

## Not approved
{% for line in services if line.denied %}
- {{ line.code }} {{ line.description }}
{% else %}
- none
{% endfor %}
{% if d.rationale %}

## Why
{{ d.rationale }}
{% endif %}
{% if d.guideline %}

Guideline relied on: {{ d.guideline }}
{% endif %}
{{ options }}
"""

HOLD = """\
# More information needed: request on hold
The review of this request cannot be finished without the clinical information below. Please send \
it by {{ d.hold_due | moment }}.

## What is missing
{% for fact in d.missing_facts %}
- {{ fact | fact_name }}
{% else %}
- the clinical documentation named in the reason below
{% endfor %}

## How to send it
- By fax{% if contact.fax %} to {{ contact.fax }}{% endif %}, with case number {{ case.id }} on \
the cover page
- Through the provider portal: {{ portal }}
- As an electronic update to the request: an X12 278 or a Da Vinci PAS update quoting case \
number {{ case.id }}

If the information does not arrive by that date, the determination will be made on the original \
submission.
"""

PEER_TO_PEER = """\
# Peer-to-peer review needed
{% if d.pathway_regimen %}The regimen requested ({{ d.pathway_regimen }}) is listed on the \
pathway but is not a preferred regimen.{% else %}The regimen requested is not a preferred \
regimen.{% endif %} Before a decision, the program's physician reviewer asks to speak with the \
ordering physician (a peer-to-peer review).

## How to schedule
- Call{% if contact.phone %} {{ contact.phone }}{% endif %} or use the provider portal \
({{ portal }}) with case number {{ case.id }}
- Conversations are scheduled against reviewer availability, in your time zone; have the \
clinical notes at hand
- You may instead select a preferred regimen by updating the request
{% if d.due_by %}

The program's decision is due by {{ d.due_by | moment }}.
{% endif %}
"""

CLINICAL_REVIEW = """\
# Request pended for clinical review
The treatment plan requested needs review by a clinical reviewer before a decision\
{% if d.pathway_regimen %} (regimen {{ d.pathway_regimen }}){% endif %}.

## What happens next
- The reviewer may ask for documentation; upload it through the provider portal ({{ portal }}) \
quoting case number {{ case.id }}
{% if d.due_by %}
- The program's decision is due by {{ d.due_by | moment }}
{% endif %}
- You will receive the determination by fax
"""

SITE_OF_CARE = """\
# One-time approval: site of care
{% if to_member %}Your doctor asked us to approve the treatment below{% else %}The request for the \
treatment below was made{% endif %} at {{ requested_site }}. For this drug the program asks for \
care at {{ d.site_of_care_redirect | place }}.

Because medical necessity is met, a one-time authorization is approved{% if days %} for {{ days }} \
days{% endif %}, from {{ d.period_start | day }} through {{ d.period_end | day }}, so that \
treatment is not delayed. The plan will follow up before it expires.

## Authorization
- Authorization number: {{ d.auth_number or "see each service below" }}
- Approved from {{ d.period_start | day }} through {{ d.period_end | day }}
- Site of care asked for next: {{ d.site_of_care_redirect | place }}
"""

DENIAL = """\
# Prior authorization denied
After review by a physician reviewer, the request for the treatment below is not approved.

## Why
{{ d.rationale or d.reason.text }}
{% if d.guideline %}

Guideline relied on: {{ d.guideline }}
{% endif %}
{{ options }}
"""

OUT_OF_SCOPE = """\
# Request outside the oncology program
This request is not within the scope of the oncology prior authorization program, so the program \
has closed it without a decision. This is not a denial.

{% if to_member %}Your doctor can send the request to your health plan under its usual process.\
{% else %}Please send the request to the health plan under its usual process.{% endif %}
"""

NOT_REQUIRED = """\
# No prior authorization required
No prior authorization is required for the services below in this setting. This is not a \
guarantee of payment: the member must be enrolled and eligible on the date of service, and the \
plan's benefits apply.
"""

REDIRECTED = """\
# Request redirected to the pharmacy benefit manager
The drugs below are covered under the member's pharmacy benefit, which the member's pharmacy \
benefit manager (PBM) administers. Please send the request to the member's PBM. This is not a \
denial.
"""

# Peer to peer, reconsideration and appeal: what a denied (or partly denied) request can do next
# (DOMAIN.md: Outcomes, Clocks). The numbers come from determination.appeal, the plan's own.
OPTIONS = """\

## {{ "Your rights" if to_member else "Your options" }}
{% if not to_member %}
- Peer to peer: the ordering physician may discuss this decision with the physician reviewer\
{% if appeal.peer_to_peer %} ({{ appeal.peer_to_peer }}){% endif %}; call\
{% if contact.phone %} {{ contact.phone }}{% endif %} or use the portal ({{ portal }}) with case \
number {{ case.id }}
{% endif %}
{% if appeal.reconsideration is not false %}
- Reconsideration: {% if appeal.reconsideration and appeal.reconsideration is not true %}\
{{ appeal.reconsideration }}{% else %}commercial plans only; ask on or before the planned service \
date and before an appeal{% endif %}

{% endif %}
- Appeal: {% if to_member %}you or your doctor{% else %}the member, or you on the member's \
behalf,{% endif %} may appeal to the health plan{% if appeal.window_days %} within \
{{ appeal.window_days }} days of this determination{% endif %}.\
{% if appeal.expedited_hours %} An expedited appeal, when a delay could seriously jeopardize \
life or health, is decided within {{ appeal.expedited_hours }} hours.{% endif %}\
{% if appeal.standard_member_days %} A standard member appeal is decided within \
{{ appeal.standard_member_days }} days{% if appeal.standard_provider_days %}, a provider appeal \
within {{ appeal.standard_provider_days }} days{% endif %}.{% endif %}

{% for label, value in appeal_other %}
- {{ label }}: {{ value }}
{% endfor %}
"""

# A booked, moved or cancelled peer-to-peer call (gateway/notify/peer_to_peer.py): the time in
# the provider's own zone and the number to call, carried in recipient.appointment.
PEER_TO_PEER_SCHEDULED = """\
{% set a = recipient.appointment or {} %}
{% if a.state == "cancelled" %}
# Peer-to-peer conversation cancelled
The peer-to-peer conversation about case number {{ case.id }} set for {{ a.when }} has been \
cancelled. To book another time, call {{ a.phone }} or use the provider portal ({{ portal }}).
{% else %}
# Peer-to-peer conversation {{ "moved" if a.rescheduled else "scheduled" }}
A peer-to-peer conversation about case number {{ case.id }} is booked with the program's \
physician reviewer, {{ a.reviewer }} ({{ a.specialty }}).

## When and how
- {{ a.when }} (your time zone, {{ a.time_zone }})
- At that time, call {{ a.phone }} and give case number {{ case.id }} and booking {{ a.booking_id }}
- Have the clinical notes at hand; to move or cancel the call, use the provider portal \
({{ portal }}) or call the same number
{% if a.mode == "consultative" %}

This conversation is a clinical consultation only: {{ a.mode_reason }}.
{% endif %}
{% endif %}
"""

TEMPLATES: dict[str, str] = {
    "approval": APPROVAL,
    "partial_approval": PARTIAL_APPROVAL,
    "hold": HOLD,
    "peer_to_peer": PEER_TO_PEER,
    "clinical_review": CLINICAL_REVIEW,
    "site_of_care": SITE_OF_CARE,
    "denial": DENIAL,
    "out_of_scope": OUT_OF_SCOPE,
    "not_required": NOT_REQUIRED,
    "redirected": REDIRECTED,
    "peer_to_peer_scheduled": PEER_TO_PEER_SCHEDULED,
}
