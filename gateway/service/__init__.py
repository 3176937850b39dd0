"""The case service: submit, change, decide, add information, expire; the request identity.

Every collaborator comes in through the constructor (gateway.wiring builds it); it renders
nothing: channels render after the commit. It keeps cases through the case store port
(`store.py`; the SQL store is gateway.store.repository, the in-memory double `memory_store.py`)
and imports no SQL.
"""
