"""The pure domain: the canonical case, the ports, the decision, plan policy and clocks.

Imports no SQLAlchemy, FastAPI, settings or channel (DESIGN.md).
"""
