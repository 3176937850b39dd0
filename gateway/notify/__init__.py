"""Outbound notices: letters (PDF), fax gateways, e-mail, member mail and the payer feed.

The core asks `jobs.outbound_jobs` which deliveries a determination causes and stores them in the
outbox with the case (DESIGN.md decision 5); the worker hands each job to `deliver.Deliverer`.
No channel here knows another channel, and nothing here decides a case.
"""
